"""The agent's workspace for a whole shift in headless Chromium against the live stack: a canned
response inserted from the keyboard and sent, an internal note, a warm transfer to a pool accepted by a
colleague in another browser, a break and back (issue 17)."""

import re

import pytest

from agents.models import Agent
from tests.browser.conftest import escalate, expect, wait_until
from tests.browser.test_agent_console import go_online
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, UserFactory, integration_with_token
from tickets.models import CannedResponse, Message, Ticket, TicketNote

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_canned_response_note_and_a_transfer_to_a_pool_accepted_on_the_other_side(live_stack, open_console, size):
    set_policy(offer_timeout_seconds=60)
    _, token = integration_with_token()
    supervisor = UserFactory(role="supervisor")
    CannedResponse.objects.create(
        language="de", title="Hallo", text="Hallo {customer_name}, hier ist {agent_name}.", created_by=supervisor
    )
    sender = AgentFactory(languages=["de"], skills={"payments": 4}, display_name="Mia Berger", max_concurrent=1)
    receiver = AgentFactory(languages=["de", "sv"], skills={"payments": 3}, display_name="Sven Lund")

    mia = open_console(size)
    mia.sign_in(sender.user.username)
    go_online(mia, sender)
    ticket = escalate(live_stack.base_url, token)
    card = mia.page.get_by_test_id("offer-card")
    card.get_by_test_id("offer-accept").click()
    work = mia.page.get_by_test_id("work")
    expect(work.get_by_test_id("conversation")).to_contain_text("I was charged twice")

    # "/" in the reply box opens the canned responses; the keyboard picks one, placeholders filled.
    reply = work.get_by_test_id("reply-text")
    reply.focus()
    reply.press_sequentially("/hal")
    expect(work.get_by_test_id("canned-list")).to_be_visible()
    expect(work.get_by_test_id("canned-option").first).to_contain_text("Hallo")
    mia.screenshot("canned-response-picker")
    reply.press("Enter")
    expect(reply).to_have_value("Hallo Anna, hier ist Mia Berger.")
    expect(work.get_by_test_id("canned-list")).to_be_hidden()
    reply.press("Control+Enter")
    expect(work.get_by_test_id("conversation")).to_contain_text("Hallo Anna, hier ist Mia Berger.")
    wait_until(lambda: Message.objects.filter(ticket_id=ticket["id"], text="Hallo Anna, hier ist Mia Berger.").exists())

    # An internal note for whoever takes over.
    work.get_by_test_id("note-text").fill("Promised a refund of the second charge.")
    work.get_by_test_id("note-add").click()
    expect(work.get_by_test_id("notes")).to_contain_text("Promised a refund of the second charge.")
    assert TicketNote.objects.filter(ticket_id=ticket["id"]).count() == 1

    # The colleague is online in another browser.
    sven = open_console(size)
    sven.sign_in(receiver.user.username)
    go_online(sven, receiver)

    # Transfer to the Swedish payments pool, with a note.
    work.get_by_test_id("transfer-open").click()
    form = work.locator("[data-transfer-form]")
    form.get_by_test_id("transfer-language").select_option("sv")
    form.get_by_label("payments").check()
    form.get_by_test_id("transfer-note").fill("Customer prefers Swedish.")
    form.get_by_test_id("transfer-submit").click()
    expect(form.get_by_test_id("transfer-pending")).to_be_visible()
    mia.screenshot("transfer-pending")

    offer = sven.page.get_by_test_id("offer-card")
    expect(offer).to_be_visible(timeout=15_000)
    expect(offer.get_by_test_id("offer-transfer")).to_have_text("Transfer from Mia Berger: Customer prefers Swedish.")
    expect(offer).to_contain_text("Mia Berger passes this customer on to you.")
    sven.screenshot("transfer-offer")
    offer.get_by_test_id("offer-accept").click()
    sven_work = sven.page.get_by_test_id("work")
    expect(sven_work.get_by_test_id("conversation")).to_contain_text("Hallo Anna, hier ist Mia Berger.")
    expect(sven_work.get_by_test_id("notes")).to_contain_text("Promised a refund of the second charge.")
    sven.screenshot("transfer-accepted")

    # The sender's tab lets go of the customer and says why.
    expect(work).to_be_hidden(timeout=15_000)
    expect(mia.page.locator("#toast")).to_contain_text("accepted the transfer")
    held = Ticket.objects.get(pk=ticket["id"])
    assert (held.status, held.assigned_agent_id) == ("assigned", receiver.pk)
    assert Agent.objects.get(pk=sender.pk).active_tickets == 0
    assert mia.js_errors() == [] and sven.js_errors() == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_break_and_back(live_stack, open_console, size):
    agent = AgentFactory(languages=["en"], display_name="Ella Ek")
    console = open_console(size)
    page = console.page
    console.sign_in(agent.user.username)
    go_online(console, agent)

    form = page.get_by_test_id("break-form")
    form.get_by_test_id("break-reason").select_option(label="Lunch")
    form.get_by_test_id("break-minutes").fill("30")
    form.get_by_test_id("break-start").click()

    banner = page.get_by_test_id("break-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(re.compile(r"On a break \(Lunch\): (30:00|29:\d\d) left"))
    expect(page.get_by_test_id("presence-label")).to_have_text("On a break")
    wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="break", presence_reason="Lunch").exists())
    assert Agent.objects.get(pk=agent.pk).break_until is not None
    console.screenshot("break")

    # Back with the keyboard: the button has the focus after the break started.
    expect(page.get_by_test_id("back-online")).to_be_focused()
    page.keyboard.press("Enter")
    expect(banner).to_be_hidden()
    expect(page.get_by_test_id("presence-label")).to_have_text("Online")
    wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="online", break_until__isnull=True).exists())

    page.get_by_test_id("no-new-work").click()
    expect(banner).to_contain_text("You finish the tickets you hold and receive no new offers.")
    wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="no_new_work").exists())
    console.screenshot("no-new-work")
    assert console.js_errors() == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_earnings_page_in_swedish_explains_the_pay_in_swedish(live_stack, open_console, size):
    from datetime import timedelta

    from django.utils import timezone

    from payouts.explanations import pay_line_explanation
    from payouts.models import PayLine
    from payouts.services import ticket_pay_compute
    from tests.factories import TicketFactory

    agent = AgentFactory(languages=["sv"], display_name="Astrid Berg")
    now = timezone.now()
    ticket = TicketFactory(
        language="sv",
        status="resolved",
        outcome="solved",
        assigned_agent=agent,
        queued_at=now - timedelta(minutes=12),
        assigned_at=now - timedelta(minutes=10),
        resolved_at=now - timedelta(minutes=2, seconds=30),
        closed_at=now - timedelta(minutes=2),
    )
    ticket_pay_compute(ticket_id=ticket.pk)
    time_line = PayLine.objects.get(agent=agent, kind="time")
    swedish = pay_line_explanation(time_line, language="sv")
    assert "efterarbete" in swedish and "," in swedish.split("=")[1]  # Swedish words, decimal comma
    assert swedish != time_line.explanation

    console = open_console(size, locale="sv-SE")
    page = console.page
    console.sign_in(agent.user.username)
    console.goto("/agent/earnings/")
    expect(page.get_by_role("heading", name="Intäkter", exact=True)).to_be_visible()
    explanations = page.get_by_test_id("pay-explanation")
    expect(explanations.filter(has_text="efterarbete")).to_have_text(swedish)
    expect(page.get_by_test_id("pay-line").filter(has_text="Grundlön").first).to_contain_text("prislista")
    expect(page.get_by_test_id("pay-line").first).to_contain_text("Inte utbetald än")
    console.screenshot("earnings-swedish")
    assert console.js_errors() == []


def test_a_supervisors_note_reaches_the_agent_live_in_german(live_stack, open_console):
    import httpx

    from agents.services import person_token_issue

    set_policy(offer_timeout_seconds=60)
    _, token = integration_with_token()
    supervisor = UserFactory(role="supervisor")
    agent = AgentFactory(languages=["de"], skills={"payments": 4}, display_name="Jonas Weber")
    console = open_console("desktop", locale="de-DE")
    page = console.page
    console.sign_in(agent.user.username)
    go_online(console, agent, label="Online")
    ticket = escalate(live_stack.base_url, token)
    page.get_by_test_id("offer-card").get_by_test_id("offer-accept").click()
    work = page.get_by_test_id("work")
    expect(work.get_by_test_id("notes")).to_contain_text("Noch keine Notizen.")

    response = httpx.post(
        f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/notes/",
        json={"text": "Bitte 10 % Kulanz anbieten."},
        headers={"Authorization": f"Bearer {person_token_issue(user=supervisor)}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text

    expect(work.get_by_test_id("notes")).to_contain_text("Bitte 10 % Kulanz anbieten.", timeout=15_000)
    expect(page.locator("#toast")).to_contain_text("Eine Supervisorin oder ein Supervisor hat eine Notiz")
    console.screenshot("supervisor-note-live")
    assert console.js_errors() == []
