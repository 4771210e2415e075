"""The Celery worker is killed (SIGKILL) with offers pending and tickets being resolved.

What the killed worker held is gone: the offers' expiry tasks (countdowns wait inside the worker) and
the pay tasks it had taken. A new worker and the beat sweeps must finish the job: every offer expires
or is answered, every ticket is offered again or finished, and every pay line exists exactly once.
"""

import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from agents.models import Agent
from agents.services import person_token_issue
from dispatch.models import Offer, OfferStatus
from payouts.models import TicketPay
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory, integration_with_token
from tests.faults.conftest import record_figures
from tests.faults.helpers import (
    bearer,
    duplicate_pay_lines,
    escalate,
    escalation,
    tickets_lost,
    tickets_without_pay,
    wait_until,
)
from tests.wsclient import AgentSocket
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

OFFER_TIMEOUT_SECONDS = 4
# A pay task the dead worker had taken comes back only through the pay sweep (beat, every 60 s, for
# tickets closed over 60 s ago): allow two of its rounds.
PAY_REPAIR_SECONDS = 150


def _agent_holding_a_ticket(integration) -> tuple[Agent, Ticket]:
    agent = AgentFactory(languages=["en"], max_concurrent=1)
    now = timezone.now()
    ticket = TicketFactory(
        integration=integration,
        language="en",
        status=TicketStatus.ASSIGNED,
        assigned_agent=agent,
        queued_at=now - timedelta(minutes=6),
        first_offered_at=now - timedelta(minutes=6),
        assigned_at=now - timedelta(minutes=5),
    )
    Agent.objects.filter(pk=agent.pk).update(active_tickets=1)
    return agent, ticket


def test_a_killed_worker_loses_no_offer_no_ticket_and_no_pay(fault_stack):
    set_policy(offer_timeout_seconds=OFFER_TIMEOUT_SECONDS, offer_fanout=1)
    integration, token = integration_with_token()
    holders = [_agent_holding_a_ticket(integration) for _ in range(6)]
    waiting_agents = [AgentFactory(languages=["de"], max_concurrent=1) for _ in range(4)]
    sockets = [AgentSocket(fault_stack.ws_url(0), agent) for agent in waiting_agents]
    offered_ids = []
    for _ in waiting_agents:
        response = escalate(fault_stack.web_url(1), token, escalation(language="de"))
        assert response.status_code == 201, response.text
        offered_ids.append(response.json()["id"])
    first_offers = {socket.agent.pk: socket.expect("offer", timeout=30) for socket in sockets}

    # Resolve the six held tickets at once; kill the worker while their pay tasks are queued or running.
    resolve_statuses: list[int] = []

    def resolve(token, ticket):
        response = httpx.post(
            f"{fault_stack.web_url(0)}/api/v1/tickets/{ticket.pk}/resolve/",
            json={"outcome": "solved", "notes": "refunded"},
            headers=bearer(token),
            timeout=30,
        )
        resolve_statuses.append(response.status_code)

    threads = [
        threading.Thread(target=resolve, args=(person_token_issue(user=agent.user), ticket))
        for agent, ticket in holders
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(resolve_statuses) >= 3, 30, interval=0.02, message="three resolves answered")
    fault_stack.worker.kill()
    for thread in threads:
        thread.join(timeout=30)
    assert resolve_statuses == [200] * 6
    resolved_ids = [str(ticket.pk) for _, ticket in holders]
    in_flight = len(offered_ids) + len(resolved_ids)

    time.sleep(OFFER_TIMEOUT_SECONDS + 1)  # every offer is past its expiry while no worker runs
    assert Offer.objects.filter(ticket_id__in=offered_ids, status=OfferStatus.PENDING).count() == 4
    fault_stack.start_worker()

    # The sweep expires the overdue offers and the tickets are offered again; the agents now accept.
    for socket in sockets:
        withdrawn = socket.expect("offer_withdrawn", timeout=30)
        assert withdrawn["offer_id"] == first_offers[socket.agent.pk]["offer_id"]
        assert withdrawn["reason"] == "expired"
    accepted = []
    for socket in sockets:
        offer = socket.expect("offer", timeout=30)
        socket.send(type="accept", offer_id=offer["offer_id"])
        accepted.append(socket.expect("assigned", timeout=30)["ticket_id"])
    assert sorted(accepted) == sorted(offered_ids)
    assert not Offer.objects.filter(ticket_id__in=offered_ids, status=OfferStatus.PENDING).exists()
    for socket, ticket_id in zip(sockets, accepted, strict=True):
        holder = Ticket.objects.get(pk=ticket_id).assigned_agent
        response = httpx.post(
            f"{fault_stack.web_url(1)}/api/v1/tickets/{ticket_id}/resolve/",
            json={"outcome": "solved"},
            headers=bearer(person_token_issue(user=holder.user)),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        socket.close()

    all_ids = offered_ids + resolved_ids
    wait_until(
        lambda: not tickets_without_pay(all_ids),
        PAY_REPAIR_SECONDS,
        interval=1,
        message=lambda: f"tickets without pay: {tickets_without_pay(all_ids)}",
    )
    statuses = set(Ticket.objects.filter(pk__in=all_ids).values_list("status", flat=True))
    lost = tickets_lost(all_ids)
    duplicates = duplicate_pay_lines(all_ids)
    # A pay written over 30 s after its ticket closed came from the sweep: its task died with the worker.
    repaired_by_sweep = sum(
        1
        for pay in TicketPay.objects.filter(ticket_id__in=all_ids).select_related("ticket")
        if (pay.computed_at - pay.ticket.closed_at).total_seconds() > 30
    )
    record_figures(
        fault=f"worker SIGKILL ({repaired_by_sweep} pay tasks lost, repaired by the pay sweep)",
        faults_injected=1,
        tickets_in_flight=in_flight,
        tickets_lost=len(lost),
        duplicate_pay_lines=duplicates,
    )
    assert statuses == {TicketStatus.RESOLVED}
    assert lost == []
    assert duplicates == 0
