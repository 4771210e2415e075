"""Races of warm transfers: one holder whatever the timing (two threads released together, real
PostgreSQL, then the invariants checked)."""

import pytest

from actions.tickets import ticket_cancel
from actions.transfers import ticket_transfer
from agents.models import Agent
from dispatch import services
from dispatch.models import Offer, OfferStatus, Transfer, TransferStatus
from payouts.models import PayLine
from tests.dispatch.test_races import run_at_once
from tests.factories import AgentFactory, TicketFactory, online, set_policy
from tickets.models import Assignment, Ticket, TicketStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _held_by(sender):
    ticket = TicketFactory(language="en")
    [offer] = services.ticket_dispatch(ticket_id=ticket.pk)
    services.offer_accept(offer_id=offer.pk, agent=sender)
    return ticket


def test_two_agents_accepting_one_transfer_leave_one_holder():
    set_policy(offer_fanout=2)
    sender = online(AgentFactory(languages=["en"]))
    ticket = _held_by(sender)
    receivers = [online(AgentFactory(languages=["en"])) for _ in range(2)]
    ticket_transfer(ticket_id=ticket.pk, agent=sender, to={"language": "en"}, note="two at once")
    offers = list(Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).select_related("agent"))
    assert {o.agent_id for o in offers} == {r.pk for r in receivers}

    results = run_at_once([lambda o=o: services.offer_accept(offer_id=o.pk, agent=o.agent) for o in offers])

    winners = [r for r in results if isinstance(r, Offer)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Offer) or getattr(r, "code", None) == "offer_unavailable" for r in results), results
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == (TicketStatus.ASSIGNED, winners[0].agent_id)
    assert Assignment.objects.filter(ticket=ticket, released_at__isnull=True).count() == 1
    counts = dict(
        Agent.objects.filter(pk__in=[sender.pk, *[r.pk for r in receivers]]).values_list("pk", "active_tickets")
    )
    assert counts[sender.pk] == 0 and sum(counts.values()) == 1
    assert Transfer.objects.get(ticket=ticket).status == TransferStatus.ACCEPTED
    assert PayLine.objects.filter(agent=sender, kind="transfer_part").count() == 1  # paid once
    assert not Agent.objects.filter(has_pending_offer=True).exists()


@pytest.mark.parametrize("attempt", range(3))
def test_a_transfer_accepted_while_the_customer_cancels_ends_one_way(attempt):
    sender = online(AgentFactory(languages=["en"]))
    ticket = _held_by(sender)
    receiver = online(AgentFactory(languages=["en"]))
    ticket_transfer(ticket_id=ticket.pk, agent=sender, to={"agent_id": receiver.pk}, note="racing the customer")
    offer = Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING)

    accepted, _cancelled = run_at_once(
        [
            lambda: services.offer_accept(offer_id=offer.pk, agent=receiver),
            lambda: ticket_cancel(ticket=Ticket.objects.get(pk=ticket.pk)),
        ]
    )

    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CANCELLED
    assert not Assignment.objects.filter(ticket=ticket, released_at__isnull=True).exists()
    sender.refresh_from_db()
    receiver.refresh_from_db()
    assert (sender.active_tickets, receiver.active_tickets) == (0, 0)
    assert not receiver.has_pending_offer
    transfer = Transfer.objects.get(ticket=ticket)
    if isinstance(accepted, Offer):  # the accept came first: the receiver held it until the customer left
        assert transfer.status == TransferStatus.ACCEPTED
        assert Assignment.objects.get(ticket=ticket, agent=receiver).end_reason == "cancelled"
        assert PayLine.objects.filter(agent=sender, kind="transfer_part").count() == 1
    else:  # the cancel came first: the offer was withdrawn and the late accept refused
        assert accepted.code == "offer_unavailable", accepted
        assert transfer.status == TransferStatus.CANCELLED
        assert not Assignment.objects.filter(ticket=ticket, agent=receiver).exists()
        assert Offer.objects.get(pk=offer.pk).status == OfferStatus.WITHDRAWN
