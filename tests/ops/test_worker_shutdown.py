"""A worker sent SIGTERM in the middle of a task (deploy/README.md "Rolling out", step 3) finishes it
before it exits: a webhook it is sending to a slow receiver arrives once and is recorded as delivered,
and the worker that replaces it sends nothing twice."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.models import Agent
from tests.factories import AgentFactory, SkillFactory, integration_with_token, set_policy
from tests.ops.conftest import start_quiet_worker
from tests.ops.test_metrics import escalate
from tests.wsclient import AgentSocket
from tickets.models import WebhookDelivery, WebhookDeliveryStatus

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECEIVER_SECONDS = 3


class SlowReceiver:
    """Answers 200 after RECEIVER_SECONDS; `started` is set when a request arrives."""

    def __init__(self):
        self.started = threading.Event()
        self.events: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.events.append(self.headers.get("X-Dispatch-Event", ""))
                receiver.started.set()
                time.sleep(RECEIVER_SECONDS)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_worker_stopped_mid_task_finishes_it_and_nothing_is_sent_twice(own_stack):
    set_policy(offer_timeout_seconds=60)
    stack = own_stack()
    stack.add_web()
    start_quiet_worker(stack)
    stack.start_dispatcher()
    SkillFactory(code="refunds")
    receiver = SlowReceiver()
    try:
        _, token = integration_with_token(webhook_url=receiver.url)
        agent = AgentFactory(languages=["sv"], skills={"refunds": 3})
        socket = AgentSocket(stack.ws_url(), agent)
        deadline = time.monotonic() + 20
        while not Agent.objects.filter(pk=agent.pk, presence="online", open_sockets__gt=0).exists():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        ticket = escalate(stack.base_url, token, "worker-shutdown-1")
        offer = socket.expect("offer", timeout=20)
        socket.send(type="accept", offer_id=offer["offer_id"])
        socket.expect("assigned")
        assert receiver.started.wait(20), "the worker never sent the webhook"

        stopping = time.monotonic()
        stack.worker.stop()  # SIGTERM while the POST waits for the slow receiver
        seconds = time.monotonic() - stopping
        assert stack.worker.process.returncode in (0, -15), stack.worker.log_tail()
        assert RECEIVER_SECONDS - 1 < seconds < RECEIVER_SECONDS + 10  # it waited for the task, then left
        delivery = WebhookDelivery.objects.get(ticket_id=ticket["id"], event="ticket.assigned")
        assert delivery.status == WebhookDeliveryStatus.DELIVERED and delivery.attempts == 1

        start_quiet_worker(stack)  # the next version's worker
        time.sleep(5)
        assert receiver.events.count("ticket.assigned") == 1
    finally:
        receiver.stop()
