"""A dispatch decision costs the same number of queries however large the online pool is, and a
large pool's exclusion count is shared between decisions for a moment instead of redone for each."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from dispatch import selectors, services
from tests.factories import AgentFactory, TicketFactory, online

pytestmark = pytest.mark.django_db


def queries_of_one_decision(ticket) -> int:
    with CaptureQueriesContext(connection) as captured:
        [offer] = services.ticket_dispatch(ticket_id=ticket.pk)
    Agent.objects.filter(pk=offer.agent_id).update(has_pending_offer=False)
    return len(captured.captured_queries)


def test_the_queries_of_a_decision_do_not_grow_with_the_pool(policy):
    for _ in range(3):
        online(AgentFactory(languages=["de"], skills={"payments": 3}))
    queries_of_one_decision(TicketFactory(language="de", skills={"payments": 2}))  # creates the default rate card
    small = queries_of_one_decision(TicketFactory(language="de", skills={"payments": 2}))

    for _ in range(30):
        online(AgentFactory(languages=["de", "en"], skills={"payments": 4, "refunds": 2}))
    large = queries_of_one_decision(TicketFactory(language="de", skills={"payments": 2}))

    assert large == small
    assert small <= 14, "one decision: lock, policy, skills, shortlist, claim, count, rate card, offer, ticket"


def test_a_small_pool_is_counted_for_every_decision(policy):
    online(AgentFactory(languages=["en"], skills={"payments": 3}))
    online(AgentFactory(languages=["de"], skills={"payments": 3}))
    [first] = services.ticket_dispatch(ticket_id=TicketFactory(language="de", skills={"payments": 2}).pk)
    online(AgentFactory(languages=["en"]))  # one more agent who cannot take German tickets
    online(AgentFactory(languages=["de"], skills={"payments": 3}))

    [second] = services.ticket_dispatch(ticket_id=TicketFactory(language="de", skills={"payments": 2}).pk)

    assert first.decision["excluded"]["wrong_language"] == 1
    assert second.decision["excluded"]["wrong_language"] == 2
    assert second.decision["pool"]["online"] == 4


def test_a_large_pools_count_is_shared_for_a_moment_and_the_record_says_when_it_was_taken(policy, monkeypatch):
    monkeypatch.setattr(selectors, "POOL_COUNT_EXACT_BELOW", 3)
    selectors.pool_counts_forget()
    for _ in range(3):
        online(AgentFactory(languages=["de"], skills={"payments": 3}))
    online(AgentFactory(languages=["en"]))
    [first] = services.ticket_dispatch(ticket_id=TicketFactory(language="de", skills={"payments": 2}).pk)
    online(AgentFactory(languages=["en"]))

    [second] = services.ticket_dispatch(ticket_id=TicketFactory(language="de", skills={"payments": 2}).pk)

    assert second.decision["pool"]["counted_at"] == first.decision["pool"]["counted_at"]
    assert second.decision["excluded"]["wrong_language"] == 1  # the agent who came online since is not counted yet
    selectors.pool_counts_forget()
    [third] = services.ticket_dispatch(ticket_id=TicketFactory(language="de", skills={"payments": 2}).pk)
    assert third.decision["excluded"]["wrong_language"] == 2
    selectors.pool_counts_forget()


def test_the_shortlist_takes_never_offered_agents_first_then_the_longest_wait(policy):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    recent = online(AgentFactory(languages=["en"]))
    long_ago = online(AgentFactory(languages=["en"]))
    never = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=recent.pk).update(last_offer_at=now - timedelta(minutes=1))
    Agent.objects.filter(pk=long_ago.pk).update(last_offer_at=now - timedelta(hours=1))
    ticket = TicketFactory(language="en")

    listed = selectors.shortlist(ticket=ticket, requirements=[], include_refusers=False, size=3, now=now)

    assert [a.pk for a in listed] == [never.pk, long_ago.pk, recent.pk]
    assert selectors.shortlist(ticket=ticket, requirements=[], include_refusers=False, size=1, now=now)[0] == never
