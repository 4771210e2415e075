"""Matching, ranking and answering offers, at the service level against the real database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from dispatch import services
from dispatch.models import Offer, OfferStatus, SupervisorAlert
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory, online
from tickets.models import TicketStatus

pytestmark = pytest.mark.django_db


def dispatch(ticket):
    return services.ticket_dispatch(ticket_id=ticket.pk)


def test_a_ticket_goes_to_an_online_agent_who_speaks_the_language_and_has_the_skills(policy):
    online(AgentFactory(languages=["en"], skills={"payments": 5}))  # wrong language
    online(AgentFactory(languages=["de"], skills={"refunds": 5}))  # missing skill
    online(AgentFactory(languages=["de"], skills={"payments": 1}))  # level too low
    AgentFactory(languages=["de"], skills={"payments": 3})  # offline
    suspended = online(AgentFactory(languages=["de"], skills={"payments": 3}))
    Agent.objects.filter(pk=suspended.pk).update(status=Agent.Status.SUSPENDED)
    full = online(AgentFactory(languages=["de"], skills={"payments": 3}))
    Agent.objects.filter(pk=full.pk).update(active_tickets=1)
    right = online(AgentFactory(languages=["de", "en"], skills={"payments": 3}))
    ticket = TicketFactory(language="de", skills={"payments": 2})

    [offer] = dispatch(ticket)

    assert offer.agent == right
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OFFERED
    assert ticket.first_offered_at is not None
    excluded = offer.decision["excluded"]
    assert excluded["wrong_language"] == 1
    assert excluded["missing_skill"] == 2
    assert excluded["at_capacity"] == 1
    assert offer.decision["pool"]["online"] == 5  # the offline and the suspended agent are not in the pool
    assert offer.decision["policy_version"] == policy.version
    assert any("payments level 3 meets the required level 2" in line for line in offer.why)


def test_nobody_eligible_leaves_the_ticket_queued(policy):
    online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="sv")
    assert dispatch(ticket) == []
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.QUEUED


def test_the_agent_waiting_longest_since_their_last_offer_goes_first(policy):
    now = timezone.now()
    recent = online(AgentFactory(languages=["en"]))
    waiting = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=recent.pk).update(last_offer_at=now - timedelta(seconds=30), offers_received=5)
    Agent.objects.filter(pk=waiting.pk).update(last_offer_at=now - timedelta(seconds=500), offers_received=5)
    [offer] = dispatch(TicketFactory(language="en"))
    assert offer.agent == waiting
    winner = offer.decision["winner"]
    assert winner["components"]["fairness"] > offer.decision["runners_up"][0]["components"]["fairness"]


def test_higher_quality_wins_when_everything_else_is_equal(policy):
    good = online(AgentFactory(languages=["en"]))
    poor = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=good.pk).update(csat_sum=50, csat_count=10)
    Agent.objects.filter(pk=poor.pk).update(csat_sum=15, csat_count=10)
    [offer] = dispatch(TicketFactory(language="en"))
    assert offer.agent == good


def test_an_agent_on_a_booked_shift_goes_first(policy, supervisor):
    from agents.models import Shift, ShiftBooking

    now = timezone.now()
    idle_longer = online(AgentFactory(languages=["en"]))
    on_shift = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=on_shift.pk).update(last_offer_at=now - timedelta(seconds=60))
    shift = Shift.objects.create(
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1), places=2, published_by=supervisor
    )
    ShiftBooking.objects.create(shift=shift, agent=on_shift)
    [offer] = dispatch(TicketFactory(language="en"))
    assert offer.agent == on_shift
    assert offer.decision["winner"]["components"]["shift"] == 1.0
    assert any("booked shift" in line for line in offer.why)
    assert idle_longer.pk != offer.agent.pk


def test_one_bad_rating_does_not_sink_a_new_agent(policy):
    from dispatch.ranking import smoothed_csat

    newcomer = Agent(csat_sum=1, csat_count=1)
    assert smoothed_csat(newcomer) > 3.4


def test_an_agent_holds_one_pending_offer_at_a_time(policy):
    agent = online(AgentFactory(languages=["en"], max_concurrent=3))
    first, second = TicketFactory(language="en"), TicketFactory(language="en")
    assert len(dispatch(first)) == 1
    assert dispatch(second) == []
    agent.refresh_from_db()
    assert agent.has_pending_offer


def test_accept_assigns_the_ticket_and_counts_the_load(policy):
    agent = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    [offer] = dispatch(ticket)
    services.offer_accept(offer_id=offer.pk, agent=agent)
    ticket.refresh_from_db()
    agent.refresh_from_db()
    assert ticket.status == TicketStatus.ASSIGNED
    assert ticket.assigned_agent == agent
    assert ticket.assigned_at is not None
    assert agent.active_tickets == 1
    assert not agent.has_pending_offer


def test_an_accept_after_expiry_is_refused_even_before_any_task_ran(policy):
    agent = online(AgentFactory(languages=["en"]))
    [offer] = dispatch(TicketFactory(language="en"))
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.OfferUnavailable, match="expired"):
        services.offer_accept(offer_id=offer.pk, agent=agent)
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.PENDING  # the expiry will settle it


def test_accepting_twice_is_refused_the_second_time(policy):
    agent = online(AgentFactory(languages=["en"]))
    [offer] = dispatch(TicketFactory(language="en"))
    services.offer_accept(offer_id=offer.pk, agent=agent)
    with pytest.raises(services.OfferUnavailable):
        services.offer_accept(offer_id=offer.pk, agent=agent)
    agent.refresh_from_db()
    assert agent.active_tickets == 1


def test_another_agents_offer_is_not_found(policy):
    online(AgentFactory(languages=["en"]))
    stranger = online(AgentFactory(languages=["de"]))
    [offer] = dispatch(TicketFactory(language="en"))
    from core.errors import NotFound

    with pytest.raises(NotFound):
        services.offer_accept(offer_id=offer.pk, agent=stranger)


def test_decline_requeues_and_the_next_dispatch_skips_the_decliner(policy):
    first = online(AgentFactory(languages=["en"]))
    second = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=second.pk).update(last_offer_at=timezone.now())  # so `first` goes first
    ticket = TicketFactory(language="en")
    [offer] = dispatch(ticket)
    assert offer.agent == first
    services.offer_decline(offer_id=offer.pk, agent=first, reason="Not my area")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.QUEUED
    assert Offer.objects.get(pk=offer.pk).decline_reason == "Not my area"
    [again] = dispatch(ticket)
    assert again.agent == second
    assert again.decision["excluded"]["refused_before"] == 1


def test_a_decliner_is_offered_again_when_nobody_else_is_eligible(policy):
    only = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    [offer] = dispatch(ticket)
    services.offer_decline(offer_id=offer.pk, agent=only)
    [again] = dispatch(ticket)
    assert again.agent == only
    assert again.decision["previous_refusers_included"] is True


def test_expiry_requeues_and_counts_only_delivered_offers_against_the_agent(policy):
    set_policy(max_missed_offers_in_row=2)
    agent = online(AgentFactory(languages=["en"]))
    for delivered in (False, True, True):
        ticket = TicketFactory(language="en")
        [offer] = dispatch(ticket)
        if delivered:
            services.offer_mark_delivered(offer_id=offer.pk, agent=agent)
        Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert services.offer_expire(offer_id=offer.pk)
        assert not services.offer_expire(offer_id=offer.pk)  # a second run changes nothing
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.QUEUED
        agent.refresh_from_db()
        if not delivered:
            assert agent.missed_offers_in_row == 0
    assert agent.presence == Agent.Presence.AWAY
    assert "2 offers in a row" in agent.presence_reason


def test_fanout_offers_several_agents_and_the_first_accept_withdraws_the_rest(policy):
    set_policy(offer_fanout=3)
    agents = [online(AgentFactory(languages=["en"])) for _ in range(4)]
    ticket = TicketFactory(language="en")
    offers = dispatch(ticket)
    assert len(offers) == 3
    winner = offers[1]
    services.offer_accept(offer_id=winner.pk, agent=winner.agent)
    statuses = {o.pk: (o.status, o.withdraw_reason) for o in Offer.objects.filter(ticket=ticket)}
    assert statuses[winner.pk] == (OfferStatus.ACCEPTED, "")
    assert sorted(v for k, v in statuses.items() if k != winner.pk) == [(OfferStatus.WITHDRAWN, "taken")] * 2
    loser = offers[0]
    with pytest.raises(services.OfferUnavailable, match="Another agent took this one"):
        services.offer_accept(offer_id=loser.pk, agent=loser.agent)
    assert not Agent.objects.filter(pk__in=[a.pk for a in agents], has_pending_offer=True).exists()


def test_escalation_relaxes_the_skill_level_once_the_wait_reaches_the_step(policy):
    set_policy(escalation_steps=[{"after_seconds": 60, "action": "relax_skill_level", "value": 1}])
    junior = online(AgentFactory(languages=["en"], skills={"fraud": 2}))
    ticket = TicketFactory(language="en", skills={"fraud": 3})
    ticket.queued_at = timezone.now() - timedelta(seconds=10)
    ticket.save()
    # Nobody at level 3 and the step is due in 50 s, but it is skipped at once: nobody is eligible before it.
    [offer] = dispatch(ticket)
    assert offer.agent == junior
    assert offer.decision["stage"]["skill_relaxation"] == 1
    assert offer.decision["requirements"] == [{"skill": "fraud", "level": 2}]


def test_escalation_stays_at_the_strict_level_while_someone_qualifies(policy):
    set_policy(escalation_steps=[{"after_seconds": 60, "action": "relax_skill_level", "value": 1}])
    online(AgentFactory(languages=["en"], skills={"fraud": 2}))
    senior = online(AgentFactory(languages=["en"], skills={"fraud": 3}))
    [offer] = dispatch(TicketFactory(language="en", skills={"fraud": 3}))
    assert offer.agent == senior
    assert offer.decision["stage"]["number"] == 0


def test_the_alert_step_raises_one_supervisor_alert(policy):
    set_policy(escalation_steps=[{"after_seconds": 30, "action": "alert_supervisors", "value": None}])
    ticket = TicketFactory(language="sv")
    ticket.queued_at = timezone.now() - timedelta(seconds=31)
    ticket.save()
    dispatch(ticket)
    dispatch(ticket)
    assert SupervisorAlert.objects.filter(ticket=ticket, kind="ticket_waiting").count() == 1


def test_the_alert_step_does_not_fire_before_its_time_even_when_nobody_is_eligible(policy):
    set_policy(escalation_steps=[{"after_seconds": 180, "action": "alert_supervisors", "value": None}])
    ticket = TicketFactory(language="sv")
    dispatch(ticket)
    assert not SupervisorAlert.objects.filter(ticket=ticket).exists()
    ticket.refresh_from_db()
    ticket.queued_at = timezone.now() - timedelta(seconds=181)
    ticket.save()
    dispatch(ticket)
    assert SupervisorAlert.objects.filter(ticket=ticket, kind="ticket_waiting").count() == 1


def test_cancel_withdraws_pending_offers(policy):
    agent = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    [offer] = dispatch(ticket)
    assert services.offers_withdraw_for_ticket(ticket=ticket, reason="cancelled") == 1
    offer.refresh_from_db()
    agent.refresh_from_db()
    assert (offer.status, offer.withdraw_reason) == (OfferStatus.WITHDRAWN, "cancelled")
    assert not agent.has_pending_offer


def test_dispatch_decision_cost_is_a_fixed_number_of_queries(policy, django_assert_max_num_queries):
    for _ in range(30):
        online(AgentFactory(languages=["en"], skills={"payments": 3}))
    ticket = TicketFactory(language="en", skills={"payments": 2})
    with django_assert_max_num_queries(25):
        assert len(dispatch(ticket)) == 1


def test_an_agent_suspended_after_the_offer_is_told_so_when_accepting(policy):
    from core.errors import DomainError

    agent = online(AgentFactory(languages=["en"]))
    [offer] = dispatch(TicketFactory(language="en"))
    Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.SUSPENDED)

    with pytest.raises(DomainError) as refused:
        services.offer_accept(offer_id=offer.pk, agent=agent)

    assert refused.value.code == "not_active"
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.PENDING


def test_relaxation_waits_for_its_time_while_qualified_agents_are_only_busy(policy):
    """A VIP's extra level is not lowered at second 0 because the qualified agents happen to be busy."""
    set_policy(escalation_steps=[{"after_seconds": 60, "action": "relax_skill_level", "value": 1}])
    senior = online(AgentFactory(languages=["en"], skills={"fraud": 3}))
    Agent.objects.filter(pk=senior.pk).update(active_tickets=1)  # busy with another customer
    online(AgentFactory(languages=["en"], skills={"fraud": 2}))
    ticket = TicketFactory(language="en", skills={"fraud": 3})

    assert dispatch(ticket) == []
    ticket.refresh_from_db()
    assert (ticket.status, ticket.skill_relaxation) == (TicketStatus.QUEUED, 0)

    Agent.objects.filter(pk=senior.pk).update(active_tickets=0)  # free again
    [offer] = dispatch(ticket)
    assert offer.agent == senior and offer.decision["stage"]["skill_relaxation"] == 0


def test_relaxation_comes_at_its_time_when_the_qualified_agents_stay_busy(policy):
    set_policy(escalation_steps=[{"after_seconds": 60, "action": "relax_skill_level", "value": 1}])
    senior = online(AgentFactory(languages=["en"], skills={"fraud": 3}))
    Agent.objects.filter(pk=senior.pk).update(active_tickets=1)
    junior = online(AgentFactory(languages=["en"], skills={"fraud": 2}))
    ticket = TicketFactory(language="en", skills={"fraud": 3}, queued_at=timezone.now() - timedelta(seconds=61))

    [offer] = dispatch(ticket)

    assert offer.agent == junior and offer.decision["requirements"] == [{"skill": "fraud", "level": 2}]


def test_a_decision_record_counts_the_whole_pool_once_with_the_winner_among_the_eligible(policy):
    online(AgentFactory(languages=["de"]))  # wrong language
    online(AgentFactory(languages=["en"], skills={}))  # lacks the skill
    busy = online(AgentFactory(languages=["en"], skills={"payments": 2}))
    Agent.objects.filter(pk=busy.pk).update(active_tickets=1)
    offered = online(AgentFactory(languages=["en"], skills={"payments": 2}))
    Agent.objects.filter(pk=offered.pk).update(has_pending_offer=True)
    online(AgentFactory(languages=["en"], skills={"payments": 2}))
    online(AgentFactory(languages=["en"], skills={"payments": 3}))

    [offer] = dispatch(TicketFactory(language="en", skills={"payments": 1}))

    pool, excluded = offer.decision["pool"], offer.decision["excluded"]
    assert excluded == {
        "wrong_language": 1,
        "missing_skill": 1,
        "at_capacity": 1,
        "busy_with_another_offer": 1,  # the agent with another offer, not this decision's winner
        "refused_before": 0,
    }
    assert pool["eligible"] == 2
    assert pool["online"] == pool["eligible"] + sum(excluded.values()) == 6
