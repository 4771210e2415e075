"""The supervisor's console end to end: Chromium against the real stack (uvicorn, Celery worker and beat),
tickets through the intake API, an agent accepting over a real websocket. Screenshots of every page go
to screenshots/supervisor/."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from agents.models import Agent, Shift
from agents.services import person_token_issue
from tests.factories import AgentFactory, TicketFactory, UserFactory, integration_with_token
from tests.supervisor.conftest import new_page, screenshot, sign_in, wait_until
from tests.wsclient import AgentSocket

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def escalate(base_url: str, token: str, **fields) -> dict:
    body = {
        "external_id": f"chat-{time.time_ns()}",
        "customer": {"ref": "c-42", "display_name": "Anna", "tier": "standard", "vulnerable": False},
        "language": "de",
        "skills": ["payments"],
        "reason": "customer_request",
        "priority": 2,
        "summary": "Double charge on order 1234, customer upset",
        "transcript": [{"role": "customer", "text": "I was charged twice!", "at": "2026-11-21T10:00:00+01:00"}],
        **fields,
    }
    response = httpx.post(
        f"{base_url}/api/v1/tickets/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=15
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_board_changes_live_as_tickets_arrive_and_are_accepted(live_stack, chromium):
    supervisor = UserFactory(role="supervisor")
    _, token = integration_with_token()
    agent = AgentFactory(languages=["de"], skills={"payments": 3}, display_name="Greta G.")

    def scenario(browser):
        page = new_page(browser, live_stack.base_url)
        sign_in(page, supervisor.username, "/supervisor/")
        expect(page.locator("[data-testid=board-connection]")).to_have_attribute("data-state", "live")
        waiting = page.locator("[data-testid=board-waiting]")
        expect(waiting).to_have_text("0")

        first = escalate(live_stack.base_url, token)
        escalate(live_stack.base_url, token, summary="Refund not received")
        # The board updates by itself, without a reload.
        expect(waiting).to_have_text("2")
        expect(page.locator("[data-testid=board-by-language] tr[data-key=de]")).to_contain_text("2")

        socket = AgentSocket(live_stack.ws_url(), agent)
        try:
            expect(page.locator("[data-testid=board-online]")).to_have_text("1", timeout=5000)
            offer = socket.expect("offer")
            socket.send(type="ack", offer_id=offer["offer_id"])
            socket.send(type="accept", offer_id=offer["offer_id"])
            socket.expect("assigned")
            expect(page.locator("[data-testid=board-accepted]")).to_have_text("1", timeout=2500)
            expect(waiting).to_have_text("1", timeout=2500)
            expect(page.locator("[data-testid=board-busy]")).to_have_text("1", timeout=2500)
            screenshot(page, "board")

            page.goto(live_stack.base_url + "/supervisor/tickets/")
            expect(page.locator("table")).to_contain_text(first["external_id"])
            screenshot(page, "tickets")
            accepted_ticket = offer["ticket"]["id"]
            page.goto(f"{live_stack.base_url}/supervisor/tickets/{accepted_ticket}/")
            timeline = page.locator("[data-testid=timeline]")
            expect(timeline.locator("li[data-kind=escalated]")).to_have_count(1)
            expect(timeline.locator("li[data-kind=offered]")).to_contain_text("Greta G.")
            expect(timeline.locator("li[data-kind=offered] details")).to_contain_text("Decision record")
            expect(timeline.locator("li[data-kind=assigned]")).to_be_visible()
            screenshot(page, "ticket-timeline")
        finally:
            socket.close()
        assert not page.errors, page.errors

    chromium.run(scenario)


def test_suspension_reaches_the_agent_and_the_appeal_goes_to_a_second_supervisor(live_stack, chromium):
    first = UserFactory(role="supervisor")
    second = UserFactory(role="supervisor")
    agent = AgentFactory(languages=["de", "en"], skills={"payments": 3, "refunds": 2}, display_name="Hugo H.")
    AgentFactory(languages=["sv"], skills={"fraud": 4}, display_name="Ida I.")
    reason = "Closed three chats without answering the customer."

    def scenario(browser):
        boss = new_page(browser, live_stack.base_url)
        sign_in(boss, first.username, "/supervisor/")
        boss.goto(live_stack.base_url + "/supervisor/pool/")
        expect(boss.locator("[data-testid=pool-table]")).to_contain_text("Hugo H.")
        screenshot(boss, "pool")
        boss.locator(f"tr[data-agent={agent.user.username}] a", has_text="Manage").click()
        boss.fill("[data-testid=suspend-reason]", reason)
        boss.get_by_role("button", name="Suspend").click()
        expect(boss.locator("[data-testid=flash]")).to_contain_text("suspended")
        expect(boss.locator("[data-testid=agent-status]")).to_have_text("Suspended")
        screenshot(boss, "agent")

        console = new_page(browser, live_stack.base_url)
        sign_in(console, agent.user.username, "/agent/")
        expect(console.locator("body")).to_contain_text(reason, timeout=10000)
        agent_token = person_token_issue(user=agent.user)
        me = httpx.get(
            f"{live_stack.base_url}/api/v1/me/", headers={"Authorization": f"Bearer {agent_token}"}, timeout=10
        ).json()
        assert (me["status"], me["status_reason"]) == ("suspended", reason)

        appeal = httpx.post(
            f"{live_stack.base_url}/api/v1/me/appeal/",
            json={"text": "Two of those customers had left already; see the transcripts."},
            headers={"Authorization": f"Bearer {agent_token}"},
            timeout=10,
        )
        assert appeal.status_code == 201, appeal.text

        boss.goto(live_stack.base_url + "/supervisor/appeals/")
        card = boss.locator("[data-testid=appeal]", has_text="Hugo H.")
        card.locator("input[name=reason]").fill("I agree with myself.")
        card.get_by_role("button", name="Decide").click()
        expect(boss.locator("[data-testid=flash]")).to_contain_text("another supervisor must decide")
        assert Agent.objects.get(pk=agent.pk).status == "suspended"

        other = new_page(browser, live_stack.base_url)
        sign_in(other, second.username, "/supervisor/")
        other.goto(live_stack.base_url + "/supervisor/appeals/")
        card = other.locator("[data-testid=appeal]", has_text="Hugo H.")
        expect(card).to_contain_text(reason)
        screenshot(other, "appeals")
        card.locator("select[name=decision]").select_option("reinstate")
        card.locator("input[name=reason]").fill("The transcripts show the customers had left.")
        card.get_by_role("button", name="Decide").click()
        expect(other.locator("[data-testid=flash]")).to_contain_text("decided")
        wait_until(lambda: Agent.objects.get(pk=agent.pk).status == "active")
        console.reload()
        expect(console.locator("[data-suspended], .notice").filter(has_text=reason)).to_have_count(0)
        assert not boss.errors and not other.errors

    chromium.run(scenario)


def test_a_published_shift_is_claimed_by_an_agent(live_stack, chromium):
    supervisor = UserFactory(role="supervisor")
    agent = AgentFactory(languages=["de"], skills={"payments": 2}, display_name="Mia M.")
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    # Four weeks of Monday-to-Sunday history, so the coverage has a forecast to show.
    for weeks_ago in range(1, 5):
        for hour in range(8, 18):
            moment = start.replace(hour=hour) - timedelta(weeks=weeks_ago)
            for _ in range(3 if 10 <= hour < 14 else 1):
                TicketFactory(created_at=moment, queued_at=moment, status="cancelled")

    def scenario(browser):
        page = new_page(browser, live_stack.base_url)
        sign_in(page, supervisor.username, "/supervisor/")
        page.goto(live_stack.base_url + "/supervisor/shifts/")
        page.fill("#s-start", start.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#s-end", (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
        page.fill("#s-places", "0")
        page.get_by_role("button", name="Publish").click()
        errors = page.locator("[data-testid=shift-errors]")
        expect(errors).to_contain_text("must end after it starts")
        expect(errors).to_contain_text("at least one place")
        assert Shift.objects.count() == 0

        page.fill("#s-end", (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))
        page.fill("#s-places", "2")
        page.fill("#s-langs", "de")
        page.locator("input[name=skills][value=payments]").check()
        page.fill("#s-amount", "14.50")
        page.get_by_role("button", name="Publish").click()
        expect(page.locator("[data-testid=flash]")).to_contain_text("Shift published")
        shift = Shift.objects.get()
        assert (shift.places, shift.languages, shift.skills) == (2, ["de"], ["payments"])

        token = person_token_issue(user=agent.user)
        claimed = httpx.post(
            f"{live_stack.base_url}/api/v1/shifts/{shift.pk}/claim/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert claimed.status_code == 200, claimed.text
        page.reload()
        row = page.locator(f"tr[data-shift='{shift.pk}']")
        expect(row.locator("[data-testid=shift-booked]")).to_have_text("1/2")
        expect(row).to_contain_text("Mia M.")
        expect(page.locator("[data-testid=coverage] td.short, [data-testid=coverage] td.ok").first).to_be_visible()
        screenshot(page, "shifts")
        assert not page.errors, page.errors

    chromium.run(scenario)


def test_quality_and_policy_pages(live_stack, chromium):
    from django.utils import timezone

    supervisor = UserFactory(role="supervisor")
    now = timezone.now()
    agents = [AgentFactory(display_name=name) for name in ("Anna A.", "Ben B.", "Clara C.")]
    reasons = ["bot_low_confidence", "customer_request", "complex_case", "negative_sentiment"]
    for index in range(24):
        TicketFactory(
            reason=reasons[index % 4],
            status="resolved",
            assigned_agent=agents[index % 3],
            assigned_at=now - timedelta(hours=2, minutes=index * 3),
            closed_at=now - timedelta(hours=2, minutes=index * 3 - 4 - index % 7),
            resolved_at=now - timedelta(hours=2, minutes=index * 3 - 4 - index % 7),
            csat_score=3 + index % 3,
            bot_feedback={"escalation_avoidable": index % 4 == 0 or index % 5 == 0},
            skills={["payments", "refunds", "disputes"][index % 3]: 1},
        )

    def scenario(browser):
        page = new_page(browser, live_stack.base_url)
        sign_in(page, supervisor.username, "/supervisor/")
        page.goto(live_stack.base_url + "/supervisor/quality/")
        expect(page.locator("[data-testid=quality-reasons]")).to_contain_text("Bot unsure")
        screenshot(page, "quality")

        page.goto(live_stack.base_url + "/supervisor/policy/")
        page.fill("#p-offer_timeout_seconds", "1")
        page.get_by_role("button", name="Save as a new version").click()
        expect(page.locator("[data-testid=policy-errors]")).to_contain_text("Time to answer an offer")
        page.fill("#p-offer_timeout_seconds", "25")
        page.fill("#p-reason", "Evening peak: agents answer quickly")
        page.get_by_role("button", name="Save as a new version").click()
        expect(page.locator("[data-testid=flash]")).to_contain_text("is in force")
        history = page.locator("[data-testid=policy-history]")
        expect(history).to_contain_text(supervisor.username)
        expect(history).to_contain_text("Time to answer an offer (seconds)")
        screenshot(page, "policy")
        assert not page.errors, page.errors

    chromium.run(scenario)
