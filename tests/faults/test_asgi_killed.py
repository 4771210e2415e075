"""One of two ASGI processes is killed while agents are connected to it with offers pending and tickets open.

The test's client plays the load balancer: a dropped socket reconnects to the other process. There the
agent gets the state back (open tickets in the state frame, each pending offer with its remaining time),
can still answer the offers, and the presence sweep clears the dead process's connection rows.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from agents.models import Agent, AgentConnection
from dispatch.models import Offer, OfferStatus
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, integration_with_token
from tests.faults.conftest import record_figures
from tests.faults.helpers import escalate, escalation, tickets_lost, wait_until
from tests.wsclient import AgentSocket
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

A, B = 0, 1


def _pending_offers(agent) -> set[str]:
    return {
        str(pk) for pk in Offer.objects.filter(agent=agent, status=OfferStatus.PENDING).values_list("pk", flat=True)
    }


def _open_tickets(agent) -> list[str]:
    return [
        str(pk)
        for pk in Ticket.objects.filter(assigned_agent=agent, status=TicketStatus.ASSIGNED)
        .order_by("assigned_at")
        .values_list("pk", flat=True)
    ]


def _wait_for_socket_closed(socket: AgentSocket, timeout: float = 20) -> None:
    def closed():
        try:
            socket.next_frame(0.2)
        except ConnectionClosed:
            return True
        return False

    wait_until(closed, timeout, interval=0, message="the socket to the killed process stays open")


def test_agents_of_a_killed_asgi_process_reconnect_to_the_other_and_lose_nothing(fault_stack):
    set_policy(offer_timeout_seconds=120, offer_fanout=1)
    integration, token = integration_with_token()
    agents = [AgentFactory(languages=["sv"], max_concurrent=3) for _ in range(3)]
    sockets = {agent.pk: AgentSocket(fault_stack.ws_url(A), agent) for agent in agents}

    # Two tickets accepted over process A (open tickets), then one pending offer for each agent.
    ticket_ids = []
    for _ in range(2):
        ticket_id = escalate(fault_stack.web_url(B), token, escalation(language="sv")).json()["id"]
        ticket_ids.append(ticket_id)
        offer = wait_until(lambda tid=ticket_id: Offer.objects.filter(ticket_id=tid).first(), 30)
        socket = sockets[offer.agent_id]
        socket.expect("offer", offer_id=str(offer.pk))
        socket.send(type="accept", offer_id=str(offer.pk))
        socket.expect("assigned", offer_id=str(offer.pk))
    for _ in range(3):
        ticket_ids.append(escalate(fault_stack.web_url(B), token, escalation(language="sv")).json()["id"])
    wait_until(
        lambda: Offer.objects.filter(ticket_id__in=ticket_ids[2:], status=OfferStatus.PENDING).count() == 3,
        30,
        message="each agent has a pending offer",
    )
    before = {agent.pk: (_open_tickets(agent), _pending_offers(agent)) for agent in agents}
    assert sum(len(open_tickets) for open_tickets, _ in before.values()) == 2
    assert all(len(pending) == 1 for _, pending in before.values())
    dead_channels = set(AgentConnection.objects.filter(agent__in=agents).values_list("channel_name", flat=True))
    assert len(dead_channels) == 3

    fault_stack.web[A].kill()
    for socket in sockets.values():
        _wait_for_socket_closed(socket)

    # The load balancer sends the reconnecting clients to B.
    reconnected = {}
    for agent in agents:
        socket = AgentSocket(fault_stack.ws_url(B), agent, presence=None)
        reconnected[agent.pk] = socket
        open_tickets, pending = before[agent.pk]
        assert socket.state["open_tickets"] == open_tickets
        assert socket.state["presence"] == "online"
        resent = {socket.expect("offer", timeout=15)["offer_id"] for _ in pending}
        assert resent == pending

    # A pending offer is still answerable over B.
    answering = agents[0]
    [offer_id] = before[answering.pk][1]
    reconnected[answering.pk].send(type="accept", offer_id=offer_id)
    assigned = reconnected[answering.pk].expect("assigned", offer_id=offer_id)
    assert Ticket.objects.get(pk=assigned["ticket_id"]).assigned_agent_id == answering.pk

    # The dead process's rows still count as sockets until the presence sweep finds them stale. They
    # are no longer refreshed by anyone; age them by the staleness limit instead of waiting it out.
    from agents.presence import STALE_CONNECTION_SECONDS

    assert AgentConnection.objects.filter(channel_name__in=dead_channels).count() == 3
    AgentConnection.objects.filter(channel_name__in=dead_channels).update(
        last_seen_at=timezone.now() - timedelta(seconds=STALE_CONNECTION_SECONDS + 1)
    )
    wait_until(
        lambda: not AgentConnection.objects.filter(channel_name__in=dead_channels).exists(),
        30,
        message="the presence sweep removes the killed process's connection rows",
    )
    wait_until(
        lambda: (
            list(Agent.objects.filter(pk__in=[a.pk for a in agents]).values_list("open_sockets", flat=True))
            == [1, 1, 1]
        ),
        15,
        message=lambda: list(
            Agent.objects.filter(pk__in=[a.pk for a in agents]).values_list("open_sockets", flat=True)
        ),
    )
    assert set(Agent.objects.filter(pk__in=[a.pk for a in agents]).values_list("presence", flat=True)) == {"online"}

    lost = tickets_lost(ticket_ids)
    record_figures(
        fault="ASGI process SIGKILL",
        faults_injected=1,
        tickets_in_flight=len(ticket_ids),
        tickets_lost=len(lost),
    )
    assert lost == []
    for agent in agents:
        open_tickets, pending = before[agent.pk]
        if agent.pk == answering.pk:
            assert _open_tickets(agent) == [*open_tickets, assigned["ticket_id"]]
        else:
            assert (_open_tickets(agent), _pending_offers(agent)) == (open_tickets, pending)
    for socket in reconnected.values():
        socket.close()
