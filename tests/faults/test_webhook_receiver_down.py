"""The bot platform's webhook receiver is down for a stretch (connection refused), then back.

Every event is accepted exactly once (the receiver dedupes on X-Dispatch-Delivery, as the contract asks;
retries of a failed attempt are expected), and per ticket in order: an event is never sent before the
ticket's earlier events were accepted.
"""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from agents.services import person_token_issue
from dispatch.models import Offer
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, integration_with_token
from tests.faults.conftest import record_figures
from tests.faults.helpers import bearer, escalate, escalation, tickets_lost, wait_until
from tests.tickets.receiver import Received
from tests.wsclient import AgentSocket
from tickets.models import WebhookDelivery

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 8


@dataclass
class RestartableReceiver:
    """A receiver that can go away (its port refuses connections) and come back on the same port."""

    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    def start(self) -> "RestartableReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                item = Received(headers=dict(self.headers.items()), body=body)
                with receiver.lock:
                    receiver.requests.append(item)
                    seen = {r.headers["X-Dispatch-Delivery"] for r in receiver.accepted}
                    if item.headers["X-Dispatch-Delivery"] not in seen:
                        receiver.accepted.append(item)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def accepted_count(self) -> int:
        with self.lock:
            return len(self.accepted)


def _sent_ahead_of_order(requests: list[Received]) -> list[str]:
    """Requests that arrived while an earlier event of their ticket had not been accepted yet."""
    accepted_up_to: dict[str, int] = {}
    ahead = []
    for request in requests:
        body = request.json
        ticket_id, sequence = body["ticket"]["id"], body["sequence"]
        done = accepted_up_to.get(ticket_id, 0)
        if sequence > done + 1:
            ahead.append(f"{body['event']} #{sequence} of {ticket_id} before #{done + 1}")
        accepted_up_to[ticket_id] = max(done, sequence)
    return ahead


def test_a_receiver_down_for_a_stretch_gets_every_event_once_and_in_order(fault_stack):
    set_policy(offer_timeout_seconds=60, offer_fanout=1)
    receiver = RestartableReceiver().start()
    try:
        integration, token = integration_with_token(webhook_url=receiver.url)
        agents = [AgentFactory(languages=["de"], max_concurrent=1) for _ in range(3)]
        sockets = [AgentSocket(fault_stack.ws_url(0), agent) for agent in agents]
        tokens = {agent.pk: person_token_issue(user=agent.user) for agent in agents}
        ticket_ids = [escalate(fault_stack.web_url(1), token, escalation(language="de")).json()["id"] for _ in agents]
        for socket in sockets:
            offer = socket.expect("offer", timeout=30)
            socket.send(type="accept", offer_id=offer["offer_id"])
            socket.expect("assigned", timeout=30)
        holder_token = {tid: tokens[Offer.objects.get(ticket_id=tid, status="accepted").agent_id] for tid in ticket_ids}

        def reply(ticket_id, text):
            response = httpx.post(
                f"{fault_stack.web_url(0)}/api/v1/tickets/{ticket_id}/messages/",
                json={"text": text},
                headers=bearer(holder_token[ticket_id]),
                timeout=15,
            )
            assert response.status_code == 201, response.text

        for ticket_id in ticket_ids:
            reply(ticket_id, "Hello, I am looking at your order.")
        wait_until(lambda: receiver.accepted_count() == 6, 30, message="assigned and first reply delivered")

        # Events keep coming during the outage, a few seconds apart: each would be due for its next
        # attempt at a different moment, and a later event must still wait for the earlier ones.
        receiver.stop()
        outage_started = time.monotonic()

        def resolve(ticket_id):
            response = httpx.post(
                f"{fault_stack.web_url(1)}/api/v1/tickets/{ticket_id}/resolve/",
                json={"outcome": "solved"},
                headers=bearer(holder_token[ticket_id]),
                timeout=15,
            )
            assert response.status_code == 200, response.text

        for step, (action, argument) in enumerate(
            [(reply, "I found the double charge."), (reply, "The refund is on its way."), (resolve, None)]
        ):
            time.sleep(max(0.0, step * OUTAGE_SECONDS / 3 - (time.monotonic() - outage_started)))
            for ticket_id in ticket_ids:
                action(ticket_id, *([argument] if argument else []))
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
        failed_attempts = (
            sum(WebhookDelivery.objects.filter(ticket_id__in=ticket_ids).values_list("attempts", flat=True)) - 6
        )
        assert failed_attempts > 0, "nothing was tried while the receiver was down"
        receiver.start()

        expected = 5 * len(ticket_ids)
        wait_until(
            lambda: receiver.accepted_count() == expected,
            90,
            message=lambda: list(
                WebhookDelivery.objects.filter(ticket_id__in=ticket_ids).values_list("seq", "status", "attempts")
            ),
        )
        time.sleep(2)  # nothing more arrives
        accepted_ids = [r.headers["X-Dispatch-Delivery"] for r in receiver.accepted]
        redelivered = sum(1 for r in receiver.requests) - len(receiver.accepted)
        ahead = _sent_ahead_of_order(receiver.requests)
        record_figures(
            fault=f"webhook receiver down {OUTAGE_SECONDS}s",
            faults_injected=1,
            tickets_in_flight=len(ticket_ids),
            tickets_lost=len(tickets_lost(ticket_ids)),
            events_delivered=len(receiver.accepted),
            events_duplicated=redelivered,
        )
        stored = {
            str(pk) for pk in WebhookDelivery.objects.filter(ticket_id__in=ticket_ids).values_list("pk", flat=True)
        }
        assert sorted(accepted_ids) == sorted(stored)
        assert set(WebhookDelivery.objects.filter(ticket_id__in=ticket_ids).values_list("status", flat=True)) == {
            "delivered"
        }
        assert ahead == []
        for ticket_id in ticket_ids:
            mine = [r.json for r in receiver.accepted if r.json["ticket"]["id"] == ticket_id]
            assert [e["sequence"] for e in mine] == [1, 2, 3, 4, 5]
            assert [e["event"] for e in mine] == ["ticket.assigned"] + ["ticket.message"] * 3 + ["ticket.resolved"]
            assert mine[0]["agent"]["display_name"]
            assert [e["message"]["text"] for e in mine[1:4]] == [
                "Hello, I am looking at your order.",
                "I found the double charge.",
                "The refund is on its way.",
            ]
        for received in receiver.accepted:
            assert received.signature_is_valid(integration.webhook_secret)
        for socket in sockets:
            socket.close()
    finally:
        receiver.stop()
