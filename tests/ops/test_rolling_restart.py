"""A rolling restart of both web processes under load (deploy/README.md "Rolling out a new version").

Two web processes behind a "load balancer" (each client's list of both), agents connected to both and
accepting offers after a moment's thought, a bot escalating tickets all along. Each web process in
turn gets SIGTERM, exits, and starts again. Nothing may be lost: every ticket escalated ends with an
agent, every offer made is accepted (none expires on an agent who was moving between processes), and
every agent on a stopping process is told to reconnect (frame, then close code 4012) and is back
within seconds.
"""

import itertools
import signal
import statistics
import threading
import time
import uuid

import httpx
import pytest

from agents.models import Agent
from agents.services import person_token_issue
from dispatch.models import Offer, OfferStatus
from tests.factories import AgentFactory, integration_with_token, set_policy
from tests.live import wait_for_http
from tests.ops.agents import CLOSE_CODE_RECONNECT, RollingAgent
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AGENTS = 12
ESCALATIONS_PER_SECOND = 4
# A web process drains its sockets (at most SOCKET_DRAIN_SECONDS, 3) and then finishes its requests (at
# most GRACEFUL_SHUTDOWN_SECONDS, 7): it is gone well within this.
EXIT_BOUND_SECONDS = 11


class Bot:
    """The bot platform: escalates at a steady rate through either web process; a refused connection
    (a process stopping) is sent again, same external id, to the other one, as a load balancer would."""

    def __init__(self, urls: list[str], token: str):
        self.urls, self.token = urls, token
        self.ticket_ids: list[str] = []
        self.failures: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Bot":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=60)

    def _run(self) -> None:
        servers = itertools.cycle(self.urls)
        while not self.stopped.is_set():
            body = {
                "external_id": f"rolling-{uuid.uuid4().hex[:12]}",
                "customer": {"ref": "c-1", "display_name": "Anna"},
                "language": "en",
                "skills": [],
                "reason": "customer_request",
                "summary": "Double charge",
                "transcript": [{"role": "customer", "text": "Charged twice", "at": "2026-11-21T10:00:00+01:00"}],
            }
            for _attempt in range(10):
                try:
                    response = httpx.post(
                        f"{next(servers)}/api/v1/tickets/",
                        json=body,
                        headers={"Authorization": f"Bearer {self.token}"},
                        timeout=15,
                    )
                except httpx.HTTPError:
                    continue  # that process is going away: the other one takes it
                if response.status_code in (200, 201):
                    self.ticket_ids.append(response.json()["id"])
                    break
                if response.status_code < 500:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                    break
            else:
                self.failures.append(f"no process took {body['external_id']}")
            self.stopped.wait(1 / ESCALATIONS_PER_SECOND)


def test_a_rolling_restart_of_both_web_processes_under_load_loses_no_offer_and_no_ticket(own_stack):
    set_policy(offer_timeout_seconds=30, offer_fanout=1)
    stack = own_stack()
    stack.add_web()
    stack.add_web()
    stack.start_worker()
    stack.start_beat()
    stack.start_dispatcher()
    urls = [stack.web_url(0), stack.web_url(1)]
    ws_urls = [stack.ws_url(0), stack.ws_url(1)]
    started = time.monotonic()

    _, token = integration_with_token()
    agents = [AgentFactory(languages=["en"], max_concurrent=10) for _ in range(AGENTS)]
    clients = [
        RollingAgent(ws_urls, person_token_issue(user=agent.user), first=index % 2).start()
        for index, agent in enumerate(agents)
    ]
    bot = None
    try:
        for client in clients:
            assert client.connected.wait(20), "an agent could not connect"
        deadline = time.monotonic() + 20
        while Agent.objects.filter(pk__in=[a.pk for a in agents], presence="online").count() < AGENTS:
            assert time.monotonic() < deadline, "agents did not all go online"
            time.sleep(0.2)
        bot = Bot(urls, token).start()
        time.sleep(4)

        restarts = []
        for index in (0, 1):
            in_flight = Offer.objects.filter(status=OfferStatus.PENDING).count()
            sockets_before = sum(1 for c in clients if c.connected.is_set() and c.url == ws_urls[index])
            stopping = time.monotonic()
            stack.web[index].stop()  # SIGTERM, and wait for the process to exit
            exit_seconds = time.monotonic() - stopping
            # uvicorn ends a graceful shutdown by raising the signal it caught again: -SIGTERM, not -SIGKILL.
            assert stack.web[index].process.returncode in (0, -signal.SIGTERM), stack.web[index].log_tail()
            assert "to reconnect elsewhere" in stack.web[index].log_path.read_text()
            stack.web[index].start()
            wait_for_http(f"{urls[index]}/healthz", stack.web[index])
            restarts.append(
                {
                    "process": f"web{index}",
                    "offers_in_flight": in_flight,
                    "agent_sockets_moved": sockets_before,
                    "exit_seconds": round(exit_seconds, 2),
                }
            )
            assert exit_seconds < EXIT_BOUND_SECONDS, f"web{index} took {exit_seconds:.1f}s to exit"
            time.sleep(4)
        bot.stop()

        escalated = set(bot.ticket_ids)
        assert not bot.failures, bot.failures
        assert len(escalated) >= 20

        def all_assigned():
            return Ticket.objects.filter(pk__in=escalated, status=TicketStatus.ASSIGNED).count() == len(escalated)

        deadline = time.monotonic() + 60
        while not all_assigned():
            assert time.monotonic() < deadline, {
                status: Ticket.objects.filter(pk__in=escalated, status=status).count() for status in TicketStatus.values
            }
            time.sleep(0.5)
    finally:
        if bot is not None:
            bot.stop()
        for client in clients:
            client.stop()

    offers = Offer.objects.filter(ticket_id__in=escalated)
    lost = offers.exclude(status=OfferStatus.ACCEPTED).exclude(status=OfferStatus.PENDING)
    reconnects = [seconds for client in clients for seconds in client.reconnect_seconds]
    figures = {
        "tickets_escalated": len(escalated),
        "offers_made": offers.count(),
        "offers_lost": lost.count(),
        "tickets_lost": len(escalated) - Ticket.objects.filter(pk__in=escalated, status=TicketStatus.ASSIGNED).count(),
        "reconnects": len(reconnects),
        "reconnect_median_seconds": round(statistics.median(reconnects), 2),
        "reconnect_max_seconds": round(max(reconnects), 2),
        "restarts": restarts,
        "test_seconds": round(time.monotonic() - started, 1),
    }
    print(f"\nrolling restart figures: {figures}")

    assert lost.count() == 0, list(lost.values_list("status", "withdraw_reason"))
    assert sum(r["offers_in_flight"] for r in restarts) > 0, "no offer was in flight at a restart: not under load"
    # Every agent was on a process that stopped at least once, was told so, and came back.
    for client in clients:
        assert client.reconnect_frames >= 1
        assert client.close_codes and set(client.close_codes) == {CLOSE_CODE_RECONNECT}, client.close_codes
        assert not [e for e in client.errors if e.get("code") != "offer_unavailable"], client.errors
    assert max(reconnects) < 5
    assert Agent.objects.filter(pk__in=[a.pk for a in agents], presence="online").count() == AGENTS
