"""The "Bot and people" page: the hybrid figures with their definitions, small samples as counts, and
the coaching groups a supervisor marks as sent to the bot team (audited)."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from tests.factories import AgentFactory, TicketFactory, integration_with_token
from tickets.models import CoachingGroupSent, Conversation, Message, TicketStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(supervisor):
    client = Client()
    client.force_login(supervisor)
    return client


@pytest.fixture
def data(db):
    integration = integration_with_token()[0]
    now = timezone.now() - dt.timedelta(hours=1)
    for n in range(12):  # 12 German conversations, 9 contained: a sample big enough for a percentage
        Conversation.objects.create(
            integration=integration,
            external_id=f"de-{n}",
            language="de",
            topic="refund",
            outcome="contained" if n < 9 else "escalated",
            csat=4 if n < 2 else None,  # two ratings only: shown as n=2
            started_at=now,
        )
    agent = AgentFactory()
    for n, avoidable in enumerate([True, True, False]):
        ticket = TicketFactory(
            integration=integration,
            conversation_id=f"de-{9 + n}",
            language="de",
            reason="customer_request",
            status=TicketStatus.RESOLVED,
            assigned_agent=agent,
            assigned_at=now,
            closed_at=now,
            outcome="solved",
            resolution_notes="Refunded the duplicate charge.",
            bot_feedback={"escalation_avoidable": avoidable, "comment": "The refund tool can do this."},
        )
        Message.objects.create(ticket=ticket, seq=1, author_kind="customer", text="I was charged twice!", at=now)


def test_the_page_shows_the_figures_their_definitions_and_small_samples_as_counts(browser, data):
    page = browser.get("/supervisor/hybrid/").content.decode()
    assert "Bot and people" in page
    total = page[page.index('data-testid="hybrid-total"') :].split("</tr>")[0]
    assert ">75%<" in total  # 9 of 12 contained
    assert ">n=2<" in total  # two bot ratings: a count, not 100 %
    assert ">n=3<" in total  # avoidable: 2 of 3 with feedback
    assert "Of the conversations with a known customer" in page  # each figure is defined
    assert 'href="/supervisor/hybrid/"' in page  # in the console's navigation


def test_a_supervisor_marks_a_coaching_group_sent_to_the_bot_team(browser, supervisor, data):
    page = browser.get("/supervisor/hybrid/").content.decode()
    assert "3 tickets with feedback, 2 marked avoidable." in page
    assert "I was charged twice!" in page and "The refund tool can do this." in page

    response = browser.post("/supervisor/hybrid/", {"topic": "refund", "reason": "customer_request"})
    assert response.status_code == 302

    mark = CoachingGroupSent.objects.get()
    assert (mark.topic, mark.reason, mark.tickets, mark.sent_by) == ("refund", "customer_request", 3, supervisor)
    entry = AuditEntry.objects.get(action="coaching_group.sent_to_bot_team")
    assert entry.actor == supervisor and entry.data["tickets"] == 3
    page = browser.get(response["Location"]).content.decode()
    assert "Marked as sent to the bot team: 3 tickets." in page
    assert f"Sent to the bot team by {supervisor.username}" in page


def test_marking_a_group_with_nothing_in_it_is_refused(browser, data):
    browser.post("/supervisor/hybrid/", {"topic": "nothing", "reason": "customer_request"})
    assert CoachingGroupSent.objects.count() == 0
    assert "No agent feedback in this group" in browser.get("/supervisor/hybrid/").content.decode()


def test_only_supervisors(agent_client, data):
    client = Client()
    client.force_login(AgentFactory().user)
    assert client.get("/supervisor/hybrid/").status_code in (302, 403)


@pytest.mark.parametrize(
    ("language", "title", "count"),
    [("de", "Bot und Menschen", "3 Tickets mit Feedback"), ("sv", "Bot och människor", "3 ärenden med feedback")],
)
def test_the_page_speaks_german_and_swedish(browser, data, language, title, count):
    page = browser.get("/supervisor/hybrid/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert title in page and count in page
