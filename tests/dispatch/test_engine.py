"""The batched engine: a pass decides many tickets at once, in queue order, with the single-ticket rules,
and engines running at the same moment never offer one ticket or one agent twice."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import Agent
from dispatch.engine import dispatch_cycle, dispatch_pass
from dispatch.models import Offer, OfferStatus
from tests.factories import AgentFactory, TicketFactory, online, set_policy
from tickets.models import Ticket, TicketStatus

pytestmark = pytest.mark.django_db


def test_a_pass_offers_the_most_urgent_tickets_first_when_agents_are_few(policy):
    agents = [online(AgentFactory(languages=["en"])) for _ in range(2)]
    now = timezone.now()
    late_urgent = TicketFactory(language="en", priority=3, queued_at=now)
    early_normal = TicketFactory(language="en", priority=1, queued_at=now - timedelta(minutes=5))
    earlier_urgent = TicketFactory(language="en", priority=3, queued_at=now - timedelta(minutes=1))

    offers = dispatch_pass().offers

    assert {o.ticket_id for o in offers} == {earlier_urgent.pk, late_urgent.pk}
    assert {o.agent_id for o in offers} == {a.pk for a in agents}
    early_normal.refresh_from_db()
    assert early_normal.status == TicketStatus.QUEUED and early_normal.dispatch_attempted_at is not None


def test_each_ticket_of_a_pass_gets_the_best_agent_no_earlier_ticket_took(policy):
    senior = online(AgentFactory(languages=["de"], skills={"fraud": 5}))
    junior = online(AgentFactory(languages=["de"], skills={"fraud": 2}))
    now = timezone.now()
    first = TicketFactory(language="de", skills={"fraud": 2}, priority=2, queued_at=now)
    second = TicketFactory(language="de", skills={"fraud": 2}, priority=1, queued_at=now)

    offers = {o.ticket_id: o for o in dispatch_pass().offers}

    assert offers[first.pk].agent_id == senior.pk  # the better skill fit goes to the more urgent ticket
    assert offers[second.pk].agent_id == junior.pk
    # The second decision's record counts the senior, taken by the first, as busy with another offer.
    record = offers[second.pk].decision
    assert record["excluded"]["busy_with_another_offer"] == 1
    assert record["pool"]["eligible"] == 1
    assert record["pool"]["online"] == record["pool"]["eligible"] + sum(record["excluded"].values())


def test_a_cycle_goes_through_the_whole_queue_batch_after_batch(policy, monkeypatch):
    monkeypatch.setattr("dispatch.engine.PASS_SIZE", 3)
    for _ in range(8):
        online(AgentFactory(languages=["sv"], max_concurrent=1))
    tickets = [TicketFactory(language="sv") for _ in range(7)]

    assert dispatch_cycle() == 7

    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], status=TicketStatus.OFFERED).count() == 7


def test_tickets_nobody_can_take_do_not_hold_up_those_behind_them(policy, monkeypatch):
    monkeypatch.setattr("dispatch.engine.PASS_SIZE", 2)
    online(AgentFactory(languages=["en"]))
    now = timezone.now()
    for minutes in (3, 2, 1):  # three Swedish tickets at the head of the queue, nobody speaks Swedish
        TicketFactory(language="sv", priority=3, queued_at=now - timedelta(minutes=minutes))
    english = TicketFactory(language="en", priority=0)

    assert dispatch_cycle() == 1

    english.refresh_from_db()
    assert english.status == TicketStatus.OFFERED


def test_the_frame_reasons_are_in_the_agents_language(policy):
    agent = online(AgentFactory(languages=["de"]))
    Agent.objects.filter(pk=agent.pk).update(ui_language="de")
    [offer] = dispatch_pass(ticket_ids=[TicketFactory(language="de").pk]).offers
    from dispatch.events import offer_frame

    frame = offer_frame(Offer.objects.select_related("agent", "ticket").get(pk=offer.pk))
    assert offer.why[0].startswith("You speak the customer's language")
    assert frame["why"] != offer.why  # rendered in German from the codes, not the stored English


@pytest.mark.django_db(transaction=True)
def test_two_engines_at_once_never_offer_one_ticket_or_one_agent_twice(monkeypatch):
    import dispatch.engine as engine

    set_policy(escalation_steps=[], offer_fanout=1)
    for _ in range(12):
        online(AgentFactory(languages=["en"], max_concurrent=2))
    tickets = [TicketFactory(language="en") for _ in range(30)]
    barrier = threading.Barrier(2)
    made = []
    # Both engines read the same free agents and decide before either claims: the claims then race.
    claim, both_decided = engine.agents_offer_slot_claim, threading.Barrier(2)

    def claim_after_both_decided(**kwargs):
        try:
            both_decided.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass  # a later pass of one engine alone
        return claim(**kwargs)

    monkeypatch.setattr(engine, "agents_offer_slot_claim", claim_after_both_decided)
    monkeypatch.setattr(engine, "PASS_SIZE", 10)  # each engine takes its own batch of the queue

    def engine():
        try:
            barrier.wait()
            made.append(dispatch_cycle())
        finally:
            connection.close()

    threads = [threading.Thread(target=engine) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    pending = Offer.objects.filter(status=OfferStatus.PENDING)
    assert sum(made) == pending.count() == 12  # every free agent got exactly one offer
    assert max(Counter(pending.values_list("ticket_id", flat=True)).values()) == 1
    assert max(Counter(pending.values_list("agent_id", flat=True)).values()) == 1
    offered = Ticket.objects.filter(pk__in=[t.pk for t in tickets], status=TicketStatus.OFFERED).count()
    assert offered == 12
    assert Agent.objects.filter(has_pending_offer=True).count() == 12
