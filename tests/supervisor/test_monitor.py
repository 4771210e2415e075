"""The monitor of a live conversation on the supervisor's ticket page (issue 19): what the page polls,
who may read it, and the whisper (an internal note through tickets.services.note_add)."""

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import AgentFactory, TicketFactory
from tickets.models import Message, TicketNote, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(supervisor):
    client = Client()
    client.force_login(supervisor)
    return client


def _live_ticket(agent=None):
    agent = agent or AgentFactory(display_name="Mia Berger")
    ticket = TicketFactory(status="assigned", assigned_agent=agent, assigned_at=timezone.now())
    for seq, (kind, text) in enumerate(
        [("customer", "I was charged twice."), ("bot", "Let me get a colleague."), ("agent", "I am on it.")], start=1
    ):
        Message.objects.create(
            ticket=ticket,
            seq=seq,
            author_kind=kind,
            author_agent=agent if kind == "agent" else None,
            text=text,
            at=timezone.now(),
        )
    ticket.last_message_seq = 3
    ticket.save(update_fields=["last_message_seq"])
    return ticket


def test_the_monitor_sends_the_messages_after_the_last_one_seen_and_the_notes(browser, django_assert_max_num_queries):
    ticket = _live_ticket()
    everything = browser.get(f"/supervisor/tickets/{ticket.pk}/monitor/").json()
    assert [(m["seq"], m["author_kind"], m["author"]) for m in everything["messages"]] == [
        (1, "customer", "Customer"),
        (2, "bot", "Bot"),
        (3, "agent", "Mia Berger"),
    ]
    assert everything["live"] is True and everything["notes"] == []
    with django_assert_max_num_queries(6):  # polled every 2 s: a fixed handful of reads, however long the talk
        newer = browser.get(f"/supervisor/tickets/{ticket.pk}/monitor/?after=2").json()
    assert [m["text"] for m in newer["messages"]] == ["I am on it."]


def test_the_monitor_refuses_a_bad_position_and_anyone_but_a_supervisor(browser):
    ticket = _live_ticket()
    bad = browser.get(f"/supervisor/tickets/{ticket.pk}/monitor/?after=last")
    assert bad.status_code == 400 and "after" in bad.json()
    agent_client = Client()
    agent_client.force_login(ticket.assigned_agent.user)
    assert agent_client.get(f"/supervisor/tickets/{ticket.pk}/monitor/").status_code == 403
    assert Client().get(f"/supervisor/tickets/{ticket.pk}/monitor/").status_code == 302  # to sign in


def test_the_page_shows_the_monitor_only_while_an_agent_holds_the_ticket(browser):
    live = _live_ticket()
    page = browser.get(f"/supervisor/tickets/{live.pk}/").content.decode()
    assert 'data-testid="monitor"' in page and "I am on it." in page and 'data-testid="whisper-form"' in page
    queued = TicketFactory()
    assert 'data-testid="monitor"' not in browser.get(f"/supervisor/tickets/{queued.pk}/").content.decode()


def test_a_whisper_is_a_note_for_the_agent_never_a_message_or_a_webhook(browser, supervisor):
    ticket = _live_ticket()
    response = browser.post(
        f"/supervisor/tickets/{ticket.pk}/", {"action": "whisper", "text": "Offer the goodwill credit."}, follow=True
    )
    assert "Your whisper reached the agent." in response.content.decode()
    note = TicketNote.objects.get(ticket=ticket)
    assert (note.text, note.author) == ("Offer the goodwill credit.", supervisor)
    assert not Message.objects.filter(text__contains="goodwill").exists()
    assert not WebhookDelivery.objects.filter(body__contains="goodwill").exists()
    notes = browser.get(f"/supervisor/tickets/{ticket.pk}/monitor/").json()["notes"]
    assert [(n["text"], n["author"]["role"]) for n in notes] == [("Offer the goodwill credit.", "supervisor")]


def test_an_empty_whisper_is_refused_with_the_reason(browser):
    ticket = _live_ticket()
    response = browser.post(f"/supervisor/tickets/{ticket.pk}/", {"action": "whisper", "text": "  "}, follow=True)
    assert "A note needs some text." in response.content.decode()
    assert not TicketNote.objects.exists()


def test_the_monitor_speaks_german(supervisor):
    client = Client(headers={"accept-language": "de"})
    client.force_login(supervisor)
    ticket = _live_ticket(AgentFactory(display_name="Jonas"))
    page = client.get(f"/supervisor/tickets/{ticket.pk}/").content.decode()
    assert "Mithören" in page and "Dem Agenten einflüstern" in page
