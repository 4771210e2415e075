import threading

import pytest
from django.db import connection

from actions.supervision import ticket_reassign
from agents.models import Agent
from core.models import AuditEntry
from dispatch.models import Offer, OfferStatus
from dispatch.policy import policy_current
from tests.factories import AgentFactory, TicketFactory, online
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _pending_offer(ticket, agent):
    from django.utils import timezone

    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(status="offered")
    Agent.objects.filter(pk=agent.pk).update(has_pending_offer=True)
    return Offer.objects.create(
        ticket=ticket,
        agent=agent,
        created_at=now,
        expires_at=now + timezone.timedelta(seconds=20),
        pay_estimate_amount="3.00",
        pay_estimate_currency="EUR",
        policy=policy_current(),
    )


def test_reassign_an_offered_ticket_to_a_chosen_eligible_agent(supervisor, supervisor_client):
    offered_to = online(AgentFactory(languages=["de"], skills={"payments": 3}))
    chosen = online(AgentFactory(languages=["de"], skills={"payments": 4}))
    ticket = TicketFactory(language="de", skills={"payments": 2})
    offer = _pending_offer(ticket, offered_to)

    response = supervisor_client.post(
        f"/api/v1/supervisor/tickets/{ticket.pk}/reassign/",
        {"agent_id": str(chosen.pk), "reason": "VIP"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == ("assigned", chosen.pk)
    offer.refresh_from_db()
    assert (offer.status, offer.withdraw_reason) == (OfferStatus.WITHDRAWN, "taken")
    chosen.refresh_from_db()
    offered_to.refresh_from_db()
    assert chosen.active_tickets == 1 and not offered_to.has_pending_offer
    entry = AuditEntry.objects.get(action="ticket.reassigned")
    assert entry.actor == supervisor and entry.reason == "VIP"
    assert ticket.webhook_deliveries.filter(event="ticket.assigned").exists()


def test_reassign_from_one_agent_to_another_releases_the_first(supervisor):
    first = online(AgentFactory(languages=["en"]))
    second = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=first.pk).update(active_tickets=1)
    ticket = TicketFactory(language="en", status="assigned", assigned_agent=first)
    ticket_reassign(ticket_id=ticket.pk, agent_id=second.pk, actor=supervisor, reason="needs German")
    first.refresh_from_db()
    ticket.refresh_from_db()
    assert ticket.assigned_agent_id == second.pk and first.active_tickets == 0


def test_reassign_to_an_ineligible_agent_is_refused_with_the_reasons(supervisor_client):
    swede = online(AgentFactory(languages=["sv"]))
    ticket = TicketFactory(language="de", skills={"fraud": 3})
    response = supervisor_client.post(
        f"/api/v1/supervisor/tickets/{ticket.pk}/reassign/",
        {"agent_id": str(swede.pk), "reason": "needs Swedish"},
        format="json",
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "agent_ineligible"
    assert "does not speak 'de'" in body["message"] and "lacks fraud at level 3" in body["message"]
    ticket.refresh_from_db()
    swede.refresh_from_db()
    assert ticket.status == "queued" and swede.active_tickets == 0  # nothing half-saved


def test_offline_or_full_agents_are_not_eligible(supervisor):
    offline = AgentFactory(languages=["en"])
    ticket = TicketFactory(language="en")
    with pytest.raises(Exception, match="not online"):
        ticket_reassign(ticket_id=ticket.pk, agent_id=offline.pk, actor=supervisor, reason="try")
    full = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=full.pk).update(active_tickets=1)
    with pytest.raises(Exception, match="at capacity"):
        ticket_reassign(ticket_id=ticket.pk, agent_id=full.pk, actor=supervisor, reason="try")


def test_requeue_an_assigned_ticket_keeps_its_place(supervisor_client):
    agent = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=agent.pk).update(active_tickets=1)
    ticket = TicketFactory(language="en", status="assigned", assigned_agent=agent)
    queued_at = ticket.queued_at
    response = supervisor_client.post(
        f"/api/v1/supervisor/tickets/{ticket.pk}/requeue/", {"reason": "stuck"}, format="json"
    )
    assert response.status_code == 200
    ticket.refresh_from_db()
    agent.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id, ticket.queued_at, ticket.requeue_count) == (
        "queued",
        None,
        queued_at,
        1,
    )
    assert agent.active_tickets == 0
    again = supervisor_client.post(
        f"/api/v1/supervisor/tickets/{ticket.pk}/requeue/", {"reason": "again"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "already_queued"


def test_cancel_needs_a_reason(supervisor_client):
    ticket = TicketFactory()
    refused = supervisor_client.post(f"/api/v1/supervisor/tickets/{ticket.pk}/cancel/", {"reason": " "}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()
    done = supervisor_client.post(
        f"/api/v1/supervisor/tickets/{ticket.pk}/cancel/", {"reason": "duplicate"}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"


def test_timeline_lists_escalation_offers_with_decisions_and_actions(supervisor, supervisor_client):
    agent = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    offer = _pending_offer(ticket, agent)
    Offer.objects.filter(pk=offer.pk).update(decision={"policy_version": 1, "winner": {"score": 2.5}})
    ticket_reassign(ticket_id=ticket.pk, agent_id=agent.pk, actor=supervisor, reason="take it")
    response = supervisor_client.get(f"/api/v1/supervisor/tickets/{ticket.pk}/timeline/")
    kinds = [event["kind"] for event in response.json()["events"]]
    assert kinds[0] == "escalated"
    assert {"offered", "offer_withdrawn", "assigned", "ticket.reassigned", "webhook"} <= set(kinds)
    offered = next(e for e in response.json()["events"] if e["kind"] == "offered")
    assert offered["decision"]["winner"]["score"] == 2.5


def test_approve_a_pending_agent(supervisor_client):
    agent = AgentFactory()
    Agent.objects.filter(pk=agent.pk).update(status="pending")
    assert supervisor_client.post(f"/api/v1/agents/{agent.pk}/approve/", {}, format="json").status_code == 200
    agent.refresh_from_db()
    assert agent.status == "active"
    assert supervisor_client.post(f"/api/v1/agents/{agent.pk}/approve/", {}, format="json").status_code == 409


def test_certify_one_skill_keeps_the_others(supervisor_client):
    agent = AgentFactory(skills={"payments": 2, "refunds": 1})
    response = supervisor_client.post(
        f"/api/v1/agents/{agent.pk}/certify/", {"skill": "payments", "level": 4}, format="json"
    )
    assert response.json()["skills"] == {"payments": 4, "refunds": 1}


def test_pool_lists_state_and_rates(supervisor_client):
    online(AgentFactory(display_name="Zoe", languages=["de"]))
    rows = supervisor_client.get("/api/v1/pool/?language=de").json()
    assert [row["display_name"] for row in rows] == ["Zoe"]
    assert rows[0]["online"] is True and rows[0]["acceptance_rate"] is None


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_reassigning_at_once_leave_one_holder():
    """Race: two threads reassign the same ticket to two different agents; exactly one wins, and only the
    winner's capacity is taken."""
    from tests.factories import UserFactory

    boss = UserFactory(role="supervisor")
    agents = [online(AgentFactory(languages=["en"])) for _ in range(2)]
    ticket = TicketFactory(language="en")
    barrier = threading.Barrier(2)
    results = []

    def run(agent):
        barrier.wait()
        try:
            ticket_reassign(ticket_id=ticket.pk, agent_id=agent.pk, actor=boss, reason="race")
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - the loser's refusal is the point
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ticket.refresh_from_db()
    loads = sorted(Agent.objects.filter(pk__in=[a.pk for a in agents]).values_list("active_tickets", flat=True))
    # Both may succeed one after the other (the second moves it on), but never two holders at once.
    assert ticket.status == "assigned"
    assert loads == ([0, 1] if results.count("ok") >= 1 else [0, 0])
    assert Agent.objects.get(pk=ticket.assigned_agent_id).active_tickets == 1


def test_a_requeued_ticket_is_offered_again_and_the_next_agent_can_accept_it(supervisor_client):
    """The bug this guards: the first holder's accepted offer used to stand, so every later accept was
    refused with "Another agent took this one" and the customer cycled through expiring offers."""
    from dispatch import services as dispatch

    first = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    [offer] = dispatch.ticket_dispatch(ticket_id=ticket.pk)
    dispatch.offer_accept(offer_id=offer.pk, agent=first)
    second = online(AgentFactory(languages=["en"]))

    response = supervisor_client.post(
        f"/api/v1/supervisor/tickets/{ticket.pk}/requeue/", {"reason": "customer asked for someone else"}, format="json"
    )
    assert response.status_code == 200
    [again] = dispatch.ticket_dispatch(ticket_id=ticket.pk)
    dispatch.offer_accept(offer_id=again.pk, agent=again.agent)

    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == ("assigned", again.agent_id)
    assert {again.agent_id} <= {first.pk, second.pk}
    holds = list(ticket.assignments.order_by("started_at").values_list("agent_id", "end_reason"))
    assert holds == [(first.pk, "requeued"), (again.agent_id, "")]


@pytest.mark.parametrize("status", ["queued", "offered", "resolved", "cancelled"])
def test_requeue_of_a_ticket_nobody_holds_is_refused_and_changes_nothing(supervisor_client, status):
    finished_by = AgentFactory() if status == "resolved" else None
    ticket = TicketFactory(language="en", status=status, assigned_agent=finished_by)
    response = supervisor_client.post(
        f"/api/v1/supervisor/tickets/{ticket.pk}/requeue/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == ("already_queued" if status == "queued" else "not_assigned")
    assert (status if status != "queued" else "in the queue") in response.json()["message"]
    ticket.refresh_from_db()
    assert ticket.status == status and ticket.requeue_count == 0


def test_requeue_and_reassign_need_a_reason(supervisor_client):
    agent = online(AgentFactory(languages=["en"]))
    Agent.objects.filter(pk=agent.pk).update(active_tickets=1)
    ticket = TicketFactory(language="en", status="assigned", assigned_agent=agent)
    other = online(AgentFactory(languages=["en"]))
    for url, body in (("requeue", {}), ("reassign", {"agent_id": str(other.pk), "reason": "  "})):
        response = supervisor_client.post(f"/api/v1/supervisor/tickets/{ticket.pk}/{url}/", body, format="json")
        assert response.status_code == 400 and "reason" in response.json(), url
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == ("assigned", agent.pk)


def test_requeue_and_reassign_are_for_supervisors_only(agent_client):
    ticket = TicketFactory(language="en")
    for url in ("requeue", "reassign"):
        response = agent_client.post(f"/api/v1/supervisor/tickets/{ticket.pk}/{url}/", {"reason": "x"}, format="json")
        assert response.status_code == 403
