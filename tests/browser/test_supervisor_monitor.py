"""A supervisor watches a live conversation and whispers to the agent, in Chromium against the live stack
(issue 19): the agent's reply and the customer's new message show on the supervisor's monitor without a
reload; the whisper shows live in the agent's console and never reaches the customer or the bot."""

import httpx
import pytest

from agents.services import person_token_issue
from tests.browser.conftest import escalate, expect
from tests.browser.test_agent_console import go_online
from tests.browser.test_supervisor_console import _sign_in
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, UserFactory, integration_with_token
from tickets.models import Message, TicketNote, WebhookDelivery

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WHISPER = "Offer the goodwill credit, she has waited long enough."


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_supervisor_monitors_a_live_conversation_and_whispers_to_the_agent(live_stack, open_console, size):
    set_policy(offer_timeout_seconds=60)
    _, token = integration_with_token(webhook_url="http://127.0.0.1:9/hook")
    supervisor = UserFactory(role="supervisor")
    agent = AgentFactory(languages=["de"], skills={"payments": 4}, display_name="Mia Berger")

    agent_console = open_console(size)
    agent_console.sign_in(agent.user.username)
    go_online(agent_console, agent)
    ticket = escalate(live_stack.base_url, token)
    agent_console.page.get_by_test_id("offer-card").get_by_test_id("offer-accept").click()
    work = agent_console.page.get_by_test_id("work")
    expect(work.get_by_test_id("conversation")).to_contain_text("I was charged twice")

    supervisor_console = open_console(size)
    page = _sign_in(supervisor_console, supervisor.username)
    page.goto(f"{live_stack.base_url}/supervisor/tickets/{ticket['id']}/")
    monitor = page.get_by_test_id("monitor")
    messages = monitor.get_by_test_id("monitor-messages")
    # The bot's transcript is there from the start, the customer's words and the bot's.
    expect(messages).to_contain_text("I was charged twice")
    expect(monitor.locator("[data-author-kind=bot]").first).to_be_visible()
    before = monitor.get_by_test_id("monitor-message").count()
    page.evaluate("window.notReloaded = true")

    # The agent answers in the console; the customer writes back through the integration.
    reply = work.get_by_test_id("reply-text")
    reply.fill("Hallo, ich sehe mir die doppelte Abbuchung an.")
    reply.press("Control+Enter")
    expect(messages.locator("[data-author-kind=agent]")).to_contain_text("ich sehe mir die doppelte Abbuchung an")
    expect(messages.locator("[data-author-kind=agent]")).to_contain_text("Mia Berger")
    customer = httpx.post(
        f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/messages/",
        json={"text": "Danke, es waren 49,90 €."},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert customer.status_code == 201, customer.text
    expect(messages.locator("[data-author-kind=customer]").last).to_contain_text("Danke, es waren 49,90 €.")
    expect(monitor.get_by_test_id("monitor-message")).to_have_count(before + 2)
    assert page.evaluate("window.notReloaded") is True  # it all came without a reload
    expect(monitor.get_by_test_id("monitor-connection")).to_have_attribute("data-state", "live")

    # The whisper: a note the agent sees at once.
    monitor.get_by_test_id("whisper-text").fill(WHISPER)
    monitor.get_by_test_id("whisper-send").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Your whisper reached the agent.")
    expect(page.get_by_test_id("monitor-notes")).to_contain_text(WHISPER)
    expect(work.get_by_test_id("notes")).to_contain_text(WHISPER, timeout=15_000)
    expect(agent_console.page.locator("#toast")).to_contain_text("supervisor")
    note = TicketNote.objects.get(ticket_id=ticket["id"])
    assert (note.text, note.author_id) == (WHISPER, supervisor.pk)
    supervisor_console.screenshot("supervisor-monitor")
    agent_console.screenshot("agent-whisper")

    # Never the customer's or the bot's: not a message, not in a webhook, not in what the integration reads.
    assert not Message.objects.filter(ticket_id=ticket["id"], text__contains="goodwill").exists()
    bodies = list(WebhookDelivery.objects.filter(ticket_id=ticket["id"]).values_list("body", flat=True))
    assert any("doppelte Abbuchung" in body for body in bodies)  # the agent's reply did go out
    assert not any("goodwill" in body for body in bodies)
    as_bot = httpx.get(
        f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert as_bot.status_code == 200 and "goodwill" not in as_bot.text
    notes_as_bot = httpx.get(
        f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/notes/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert notes_as_bot.status_code in (401, 403, 404) and "goodwill" not in notes_as_bot.text
    # A supervisor reads it with the ticket through the API too.
    as_supervisor = httpx.get(
        f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/notes/",
        headers={"Authorization": f"Bearer {person_token_issue(user=supervisor)}"},
        timeout=10,
    )
    assert WHISPER in as_supervisor.text
    assert supervisor_console.js_errors() == [] and agent_console.js_errors() == []


def test_the_monitor_stops_when_the_ticket_leaves_the_agent_and_refuses_a_bad_position(live_stack, open_console):
    set_policy(offer_timeout_seconds=60)
    _, token = integration_with_token()
    supervisor = UserFactory(role="supervisor")
    agent = AgentFactory(languages=["de"], skills={"payments": 4}, display_name="Jonas Weber")
    agent_console = open_console("desktop")
    agent_console.sign_in(agent.user.username)
    go_online(agent_console, agent)
    ticket = escalate(live_stack.base_url, token)
    agent_console.page.get_by_test_id("offer-card").get_by_test_id("offer-accept").click()
    expect(agent_console.page.get_by_test_id("work")).to_be_visible()

    supervisor_console = open_console("desktop")
    page = _sign_in(supervisor_console, supervisor.username)
    page.goto(f"{live_stack.base_url}/supervisor/tickets/{ticket['id']}/")
    expect(page.get_by_test_id("monitor")).to_be_visible()
    bad = page.request.get(f"{live_stack.base_url}/supervisor/tickets/{ticket['id']}/monitor/?after=x")
    assert bad.status == 400 and "after" in bad.json()
    # An empty whisper is refused with the reason, and nothing is stored.
    page.get_by_test_id("whisper-text").evaluate("node => node.removeAttribute('required')")
    page.get_by_test_id("whisper-send").click()
    expect(page.get_by_test_id("flash")).to_contain_text("A note needs some text.")
    assert not TicketNote.objects.filter(ticket_id=ticket["id"]).exists()

    # The customer leaves: the monitor says so and stops asking.
    cancelled = httpx.post(
        f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/cancel/",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert cancelled.status_code == 200, cancelled.text
    expect(page.get_by_test_id("monitor-connection")).to_have_attribute("data-state", "offline")
    expect(page.get_by_test_id("monitor-ended")).to_contain_text("no longer live")
    assert supervisor_console.js_errors() == []
