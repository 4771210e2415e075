"""Redis (channel layer, Celery broker, cache) is stopped while tickets flow and started again on the
same port, empty. No process is restarted by the test: web, worker and beat must recover by
themselves. Nothing in the database is lost, tickets escalated during the outage are offered once Redis
is back (the dispatch sweep finds them: their dispatch tasks were lost), offers resume, and the agents'
websockets reconnect and work again.
"""

import threading
import time

import pytest

from agents.services import person_token_issue
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, integration_with_token
from tests.faults.agent_client import AcceptingAgentClient
from tests.faults.conftest import record_figures
from tests.faults.helpers import escalate, escalation, tickets_lost, wait_until
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 6
BOT_RETRY_SECONDS = 60  # the bot platform retries a failed escalation for this long
# More than the agents' reconnects can pick up: a reconnect looks for work until that agent has an
# offer, and accepting looks for none, so most of these wait for the dispatch sweep.
TICKETS_DURING_OUTAGE = 8


def test_a_redis_restart_mid_run_loses_nothing_and_the_stack_recovers_by_itself(fault_stack):
    set_policy(offer_timeout_seconds=15, offer_fanout=1)
    integration, token = integration_with_token()
    agents = [AgentFactory(languages=["en"], max_concurrent=10) for _ in range(2)]
    web_urls = [fault_stack.web_url(0), fault_stack.web_url(1)]
    ws_urls = [fault_stack.ws_url(0), fault_stack.ws_url(1)]
    clients = [
        AcceptingAgentClient([ws_urls[i % 2], ws_urls[(i + 1) % 2]], person_token_issue(user=agent.user)).start()
        for i, agent in enumerate(agents)
    ]
    pids = {process.name: process.process.pid for process in fault_stack.processes()}
    statuses: list[int] = []

    def bot_escalates(count: int) -> list[str]:
        ids = []
        for i in range(count):
            response = escalate(
                web_urls[i % 2], token, escalation(), retry_for_seconds=BOT_RETRY_SECONDS, answers=statuses
            )
            assert response.status_code in (200, 201), response.text
            ids.append(response.json()["id"])
        return ids

    def assigned(ids):
        return Ticket.objects.filter(pk__in=ids, status=TicketStatus.ASSIGNED).count() == len(ids)

    try:
        wait_until(lambda: all(c.connections for c in clients), 30, message="agents connected")
        before = bot_escalates(2)
        wait_until(lambda: assigned(before), 30, message="tickets before the outage assigned")
        holders_before = dict(Ticket.objects.filter(pk__in=before).values_list("pk", "assigned_agent_id"))

        # The bot keeps escalating (and retrying what fails) while Redis is away.
        fault_stack.redis.kill()
        outage_started = time.monotonic()
        during: list[str] = []
        bot = threading.Thread(target=lambda: during.extend(bot_escalates(TICKETS_DURING_OUTAGE)))
        bot.start()
        time.sleep(OUTAGE_SECONDS)
        stored_during_outage = Ticket.objects.filter(integration=integration).exclude(pk__in=before).count()
        fault_stack.redis.start()
        outage_seconds = time.monotonic() - outage_started
        bot.join(timeout=BOT_RETRY_SECONDS + 30)
        assert len(during) == TICKETS_DURING_OUTAGE, f"the bot could not escalate: {statuses}"

        def recovered():
            dead = [process.name for process in fault_stack.processes() if not process.alive()]
            assert not dead, f"{dead} died after the Redis restart:\n" + "\n".join(
                process.log_tail(15) for process in fault_stack.processes() if not process.alive()
            )
            return assigned(during)

        wait_until(
            recovered,
            90,
            message=lambda: list(Ticket.objects.filter(pk__in=during).values_list("status", flat=True)),
        )
        after = bot_escalates(2)
        wait_until(lambda: assigned(after), 60, message="tickets after the outage assigned")

        all_ids = before + during + after
        lost = tickets_lost(all_ids)
        record_figures(
            fault=f"Redis down {OUTAGE_SECONDS}s, restarted empty",
            faults_injected=1,
            tickets_in_flight=len(before) + len(during),
            tickets_lost=len(lost),
            duplicate_tickets=Ticket.objects.filter(integration=integration).count() - len(all_ids),
        )
        failed_answers = sum(1 for status in statuses if status >= 500 or status == 0)
        print(
            f"Redis down {outage_seconds:.1f}s: {stored_during_outage} tickets stored meanwhile; the bot saw "
            f"{failed_answers} 5xx or no answers; reconnects {[c.reconnects for c in clients]}"
        )
        assert lost == []
        assert Ticket.objects.filter(integration=integration).count() == len(all_ids)
        assert dict(Ticket.objects.filter(pk__in=before).values_list("pk", "assigned_agent_id")) == holders_before
        # Work after the outage reached the agents over their (reconnected) sockets.
        accepted_over_sockets = {ticket_id for client in clients for ticket_id in client.assigned_tickets()}
        assert set(during + after) <= accepted_over_sockets
        assert all(client.reconnects >= 1 for client in clients), [c.reconnects for c in clients]
        assert {p.name: p.process.pid for p in fault_stack.processes() if p.alive()} == pids
    finally:
        for client in clients:
            client.stop()
