"""The bot platform's view end to end: real uvicorn, Celery worker and beat, an agent's real websocket."""

import time

import httpx
import pytest

from agents.models import Agent
from dispatch.models import Offer
from tests.factories import AgentFactory, SkillFactory, integration_with_token
from tests.tickets.receiver import Receiver
from tests.wsclient import AgentSocket
from tickets.models import Ticket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def wait_until(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


def escalate(live_stack, token: str, external_id: str) -> dict:
    body = {
        "external_id": external_id,
        "customer": {"ref": "c-1", "display_name": "Anna"},
        "language": "sv",
        "skills": ["refunds"],
        "reason": "customer_request",
        "summary": "Wants a refund",
        "transcript": [{"role": "customer", "text": "Refund please", "at": "2026-11-21T10:00:00+01:00"}],
    }
    response = httpx.post(
        f"{live_stack.base_url}/api/v1/tickets/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()


def online(live_stack, agent) -> AgentSocket:
    socket = AgentSocket(live_stack.ws_url(), agent)
    wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="online", open_sockets__gt=0).exists())
    return socket


def test_cancel_withdraws_the_open_offer_from_the_agents_screen(live_stack):
    SkillFactory(code="refunds")
    _, token = integration_with_token()
    agent = AgentFactory(languages=["sv"], skills={"refunds": 3})
    socket = online(live_stack, agent)
    try:
        ticket = escalate(live_stack, token, "live-cancel-1")
        offer = socket.expect("offer", timeout=20)
        assert offer["ticket"]["id"] == ticket["id"]
        cancelled = httpx.post(
            f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/cancel/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        socket.expect("offer_withdrawn", timeout=10, offer_id=offer["offer_id"], reason="cancelled")
        assert Offer.objects.get(pk=offer["offer_id"]).status == "withdrawn"
    finally:
        socket.close()


def test_the_bot_learns_that_a_human_joined(live_stack):
    SkillFactory(code="refunds")
    receiver = Receiver().start()
    integration, token = integration_with_token(webhook_url=receiver.url)
    agent = AgentFactory(display_name="Sven S.", languages=["sv"], skills={"refunds": 3})
    socket = online(live_stack, agent)
    try:
        ticket = escalate(live_stack, token, "live-assign-1")
        offer = socket.expect("offer", timeout=20)
        socket.send(type="accept", offer_id=offer["offer_id"])
        socket.expect("assigned", timeout=10, ticket_id=ticket["id"])
        shown = httpx.get(
            f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert shown["status"] == "assigned" and shown["agent"] == {"display_name": "Sven S."}
        wait_until(lambda: receiver.accepted)
        [joined] = receiver.accepted
        assert joined.json["event"] == "ticket.assigned"
        assert joined.json["agent"] == {"display_name": "Sven S."}
        assert joined.json["ticket"]["id"] == ticket["id"]
        assert joined.signature_is_valid(integration.webhook_secret)
        assert Ticket.objects.get(pk=ticket["id"]).assigned_agent_id == agent.pk
    finally:
        socket.close()
        receiver.stop()
