"""An agent who takes a conversation escalated again sees its earlier escalation in the console."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.browser.conftest import escalate, expect
from tests.browser.test_agent_console import go_online
from tests.factories import AgentFactory, TicketFactory, integration_with_token
from tickets.models import TicketStatus

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_the_agent_sees_the_earlier_escalation_of_the_conversation(open_console):
    integration, token = integration_with_token()
    colleague = AgentFactory(display_name="Ben Brandt", languages=["de"], skills={"payments": 3})
    agent = AgentFactory(display_name="Mia Berger", languages=["de"], skills={"payments": 3})
    earlier_at = timezone.now() - dt.timedelta(hours=2)
    TicketFactory(
        integration=integration,
        language="de",
        conversation_id="conv-address",
        status=TicketStatus.HANDED_BACK,
        assigned_agent=colleague,
        queued_at=earlier_at,
        created_at=earlier_at,
        assigned_at=earlier_at,
        resolved_at=earlier_at,
        closed_at=earlier_at,
        resolution_notes="Identity checked; the bot can finish the address change.",
    )
    console = open_console()
    page = console.page
    console.sign_in(agent.user.username)
    go_online(console, agent)

    escalate(console.base_url, token, conversation_id="conv-address", topic="address_change")
    card = page.get_by_test_id("offer-card")
    expect(card).to_be_visible(timeout=15_000)
    # Before accepting, the offer says the conversation was served before, by whom.
    expect(card.get_by_test_id("offer-earlier")).to_contain_text("Ben Brandt: Identity checked")
    card.get_by_test_id("offer-accept").click()
    work = page.get_by_test_id("work")
    expect(work).to_be_visible(timeout=10_000)

    earlier = work.get_by_test_id("earlier-escalations")
    expect(earlier).to_be_visible()
    expect(earlier.locator("li")).to_have_count(1)
    expect(earlier).to_contain_text("Ben Brandt")
    expect(earlier).to_contain_text("Identity checked; the bot can finish the address change.")
    console.screenshot("earlier-escalations")
    assert console.js_errors() == []
