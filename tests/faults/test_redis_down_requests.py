"""Requests that change something while Redis is down: the change is committed, so the caller is told
it succeeded. What the change would have set off at once (dispatch, a webhook, pay) is only a hint
that could not be sent; the sweeps do it once Redis is back."""

import httpx
import pytest

from agents.services import person_token_issue
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, integration_with_token
from tests.faults.conftest import record_figures
from tests.faults.helpers import bearer, escalate, escalation, tickets_lost, wait_until
from tests.tickets.receiver import Receiver
from tests.wsclient import AgentSocket
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_an_escalation_and_a_resolve_during_a_redis_outage_succeed_and_are_followed_up(fault_stack):
    set_policy(offer_timeout_seconds=30, offer_fanout=1)
    receiver = Receiver().start()
    try:
        integration, token = integration_with_token(webhook_url=receiver.url)
        agent = AgentFactory(languages=["en"], max_concurrent=2)
        socket = AgentSocket(fault_stack.ws_url(0), agent)
        held = escalate(fault_stack.web_url(1), token, escalation()).json()["id"]
        offer = socket.expect("offer", timeout=30)
        socket.send(type="accept", offer_id=offer["offer_id"])
        socket.expect("assigned", timeout=30)
        wait_until(lambda: len(receiver.accepted) == 1, 30, message="ticket.assigned delivered")
        socket.close()

        fault_stack.redis.kill()
        try:
            escalated = escalate(fault_stack.web_url(1), token, escalation())
            resolved = httpx.post(
                f"{fault_stack.web_url(0)}/api/v1/tickets/{held}/resolve/",
                json={"outcome": "solved"},
                headers=bearer(person_token_issue(user=agent.user)),
                timeout=30,
            )
        finally:
            fault_stack.redis.start()
        assert escalated.status_code == 201, escalated.text
        assert resolved.status_code == 200, resolved.text
        new_ticket = escalated.json()["id"]
        assert Ticket.objects.get(pk=new_ticket).status == TicketStatus.QUEUED

        # Once Redis is back: the ticket escalated meanwhile reaches the agent, the resolve reaches the bot.
        socket = AgentSocket(fault_stack.ws_url(0), agent, presence=None)
        assert socket.expect("offer", timeout=40)["ticket"]["id"] == new_ticket
        wait_until(lambda: len(receiver.accepted) == 2, 40, message="ticket.resolved delivered after the outage")
        assert [r.json["event"] for r in receiver.accepted] == ["ticket.assigned", "ticket.resolved"]
        socket.close()
        lost = tickets_lost([held, new_ticket])
        record_figures(
            fault="Redis down during an escalation and a resolve",
            faults_injected=1,
            tickets_in_flight=2,
            tickets_lost=len(lost),
            events_delivered=len(receiver.accepted),
            events_duplicated=len(receiver.requests) - len(receiver.accepted),
        )
        assert lost == []
    finally:
        receiver.stop()
