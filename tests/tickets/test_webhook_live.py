"""Webhooks for real: the live Celery worker and beat deliver to a local HTTP receiver.

The live stack must run with a short backoff base (WEBHOOK_RETRY_BASE_SECONDS=1). The live_stack
fixture copies os.environ when it starts, after every test module has been imported, so setting it
here reaches the worker and beat; it does not change this process's settings.
"""

import os
import time

import httpx
import pytest

from agents.services import person_token_issue
from tests.factories import AgentFactory, TicketFactory, integration_with_token
from tests.tickets.receiver import Receiver
from tickets.models import WebhookDelivery
from tickets.webhooks import webhook_event_record

os.environ.setdefault("WEBHOOK_RETRY_BASE_SECONDS", "1")

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def wait_until(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def test_a_receiver_failing_three_times_gets_every_event_once_in_order(live_stack):
    receiver = Receiver(fail_first=3).start()
    try:
        integration, _ = integration_with_token(webhook_url=receiver.url)
        agent = AgentFactory(display_name="Mia K.")
        ticket = TicketFactory(integration=integration, status="assigned", assigned_agent=agent)
        # What dispatch records when an agent accepts; then the agent replies and resolves over HTTP.
        webhook_event_record(ticket=ticket, event="ticket.assigned", data={"agent": {"display_name": "Mia K."}})
        headers = {"Authorization": f"Bearer {person_token_issue(user=agent.user)}"}
        base = f"{live_stack.base_url}/api/v1/tickets/{ticket.pk}"
        reply = httpx.post(f"{base}/messages/", json={"text": "Hello, I am Mia."}, headers=headers, timeout=10)
        assert reply.status_code == 201, reply.text
        resolved = httpx.post(
            f"{base}/resolve/", json={"outcome": "solved", "notes": "ok"}, headers=headers, timeout=10
        )
        assert resolved.status_code == 200, resolved.text

        assert wait_until(lambda: len(receiver.accepted) >= 3, timeout=90), (
            [r.json["event"] for r in receiver.requests],
            list(WebhookDelivery.objects.values_list("seq", "status", "attempts", "last_error")),
        )
        time.sleep(2)  # nothing more (no duplicate) arrives
        events = [r.json["event"] for r in receiver.requests]
        assert events == ["ticket.assigned"] * 4 + ["ticket.message", "ticket.resolved"]
        assert [r.json["sequence"] for r in receiver.accepted] == [1, 2, 3]
        assert receiver.accepted[0].json["agent"] == {"display_name": "Mia K."}
        assert receiver.accepted[1].json["message"]["text"] == "Hello, I am Mia."
        assert receiver.accepted[2].json["ticket"]["status"] == "resolved"
        for received in receiver.accepted:
            assert received.signature_is_valid(integration.webhook_secret)
            assert received.headers["X-Dispatch-Delivery"] == received.json["delivery_id"]
        assert set(WebhookDelivery.objects.filter(ticket=ticket).values_list("status", flat=True)) == {"delivered"}
    finally:
        receiver.stop()
