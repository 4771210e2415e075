import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Agent
from dispatch.models import Offer
from dispatch.policy import policy_current
from tests.conftest import client_with_token
from tests.factories import (
    AgentFactory,
    SkillFactory,
    TicketFactory,
    integration_with_token,
    record_holding,
    set_policy,
)
from tickets.lifecycle import ALLOWED_TRANSITIONS, IllegalTransition, ticket_transition
from tickets.models import Message, Ticket, TicketStatus, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushes(monkeypatch):
    """Frames pushed to agents' browsers (after commit)."""
    sent = []
    monkeypatch.setattr("core.events.send_to_group_now", lambda group, frame: sent.append((group, frame)))
    return sent


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks, monkeypatch):
    """Run on-commit callbacks, but keep Celery tasks out of the broker (no worker in these tests)."""
    monkeypatch.setattr("tickets.tasks.webhook_deliver_task.apply_async", lambda *a, **k: None)
    monkeypatch.setattr("actions.tickets.ticket_dispatch_on_commit", lambda **k: None)
    monkeypatch.setattr("actions.tickets.agent_dispatch_on_commit", lambda **k: None)
    monkeypatch.setattr("dispatch.services.agent_dispatch_on_commit", lambda **k: None)
    monkeypatch.setattr("actions.tickets.ticket_pay_on_commit", lambda **k: calls.append(("pay", k)))
    monkeypatch.setattr("actions.tickets.csat_recorded_on_commit", lambda **k: calls.append(("csat", k)))
    calls: list = []

    class Runner:
        def __init__(self):
            self.calls = calls

        def __enter__(self):
            self.ctx = django_capture_on_commit_callbacks(execute=True)
            self.ctx.__enter__()
            return self

        def __exit__(self, *exc):
            return self.ctx.__exit__(*exc)

    return Runner()


def assign(ticket: Ticket, agent: Agent) -> Ticket:
    Ticket.objects.filter(pk=ticket.pk).update(status="assigned", assigned_agent=agent, assigned_at=timezone.now())
    Agent.objects.filter(pk=agent.pk).update(active_tickets=1)
    record_holding(ticket)
    ticket.refresh_from_db()
    return ticket


def offer(ticket: Ticket, agent: Agent, status: str = "pending") -> Offer:
    now = timezone.now()
    return Offer.objects.create(
        ticket=ticket,
        agent=agent,
        status=status,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=20),
        pay_estimate_amount=Decimal("3.00"),
        pay_estimate_currency="EUR",
        policy=policy_current(),
    )


# ---------------------------------------------------------------- reading


def test_the_integration_reads_its_ticket_with_queue_position_and_wait(integration, integration_client):
    TicketFactory(priority=3)  # ahead: more urgent
    mine = TicketFactory(integration=integration, priority=1)
    TicketFactory(priority=1)  # behind: same priority, queued later
    TicketFactory(priority=0)
    for _ in range(3):  # 3 assignments in the last 15 minutes: one every 300 s
        TicketFactory(status="resolved", assigned_agent=AgentFactory(), assigned_at=timezone.now())
    body = integration_client.get(f"/api/v1/tickets/{mine.pk}/").json()
    assert body["status"] == "queued"
    assert body["queue_position"] == 2
    assert body["estimated_wait_seconds"] == 600
    assert body["agent"] is None


def test_without_recent_throughput_the_wait_is_unknown(integration, integration_client):
    ticket = TicketFactory(integration=integration)
    TicketFactory(status="resolved", assigned_agent=AgentFactory(), assigned_at=timezone.now() - dt.timedelta(hours=1))
    body = integration_client.get(f"/api/v1/tickets/{ticket.pk}/").json()
    assert (body["queue_position"], body["estimated_wait_seconds"]) == (1, None)


def test_an_assigned_ticket_names_the_agent_and_has_no_queue_position(integration, integration_client):
    ticket = assign(TicketFactory(integration=integration), AgentFactory(display_name="Mia K."))
    body = integration_client.get(f"/api/v1/tickets/{ticket.pk}/").json()
    assert body["agent"] == {"display_name": "Mia K."}
    assert body["queue_position"] is None and body["estimated_wait_seconds"] is None


def test_who_may_read_a_ticket(integration, integration_client, agent, agent_client, supervisor_client):
    ticket = TicketFactory(integration=integration)
    other_integration = APIClient()
    other_integration.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token()[1]}")
    url = f"/api/v1/tickets/{ticket.pk}/"
    assert other_integration.get(url).status_code == 404
    assert agent_client.get(url).status_code == 404
    assert supervisor_client.get(url).status_code == 200
    offer(ticket, agent)
    assert agent_client.get(url).status_code == 200  # the agent sees everything before accepting
    assert client_with_token(AgentFactory().user).get(url).status_code == 404


def test_reading_a_ticket_takes_a_fixed_number_of_queries(integration, integration_client, django_assert_num_queries):
    ticket = TicketFactory(integration=integration, skills={"payments": 1, "refunds": 2})
    for seq in range(1, 30):
        Message.objects.create(ticket=ticket, seq=seq, author_kind="customer", text="hi", at=timezone.now())
    with django_assert_num_queries(6):
        assert integration_client.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 200


# ---------------------------------------------------------------- messages


def test_a_customer_message_is_stored_next_and_pushed_to_the_assigned_agent(
    integration, integration_client, pushes, on_commit
):
    agent = AgentFactory()
    ticket = assign(TicketFactory(integration=integration, last_message_seq=2), agent)
    with on_commit:
        response = integration_client.post(f"/api/v1/tickets/{ticket.pk}/messages/", {"text": "Hello?"}, format="json")
    assert response.status_code == 201
    assert response.json()["seq"] == 3 and response.json()["author_kind"] == "customer"
    [(group, frame)] = pushes
    assert group == f"agent.{agent.pk}"
    assert frame["type"] == "ticket_message" and frame["ticket_id"] == str(ticket.pk)
    assert frame["message"]["text"] == "Hello?" and frame["message"]["seq"] == 3
    assert not WebhookDelivery.objects.exists()


def test_an_agent_reply_becomes_a_ticket_message_webhook(agent, agent_client, pushes, on_commit):
    integration, _ = integration_with_token(webhook_url="http://127.0.0.1:9/hook")
    ticket = assign(TicketFactory(integration=integration), agent)
    with on_commit:
        response = agent_client.post(f"/api/v1/tickets/{ticket.pk}/messages/", {"text": "I am here."}, format="json")
    assert response.status_code == 201
    assert Message.objects.get(ticket=ticket).author_kind == "agent"
    delivery = WebhookDelivery.objects.get()
    body = json.loads(delivery.body)
    assert body["event"] == "ticket.message"
    assert body["message"]["text"] == "I am here." and "at" in body["message"]
    assert [frame["type"] for _, frame in pushes] == ["ticket_message"]


def test_only_the_assigned_agent_may_reply(agent, agent_client):
    ticket = assign(TicketFactory(), AgentFactory())
    offer(ticket, agent, status="declined")
    assert agent_client.post(f"/api/v1/tickets/{ticket.pk}/messages/", {"text": "x"}, format="json").status_code == 404
    queued = TicketFactory()
    offer(queued, agent)
    response = agent_client.post(f"/api/v1/tickets/{queued.pk}/messages/", {"text": "x"}, format="json")
    assert response.status_code == 403


def test_no_messages_on_a_closed_ticket(integration, integration_client):
    ticket = TicketFactory(integration=integration, status="cancelled")
    response = integration_client.post(f"/api/v1/tickets/{ticket.pk}/messages/", {"text": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "ticket_closed"


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "x", "from": "me"}, {"text": "x" * 8001}])
def test_bad_messages_are_refused(integration, integration_client, body):
    ticket = TicketFactory(integration=integration)
    assert integration_client.post(f"/api/v1/tickets/{ticket.pk}/messages/", body, format="json").status_code == 400


# ---------------------------------------------------------------- cancel


def test_cancel_withdraws_the_open_offer_and_the_agent_sees_it_vanish(
    integration, integration_client, pushes, on_commit
):
    agent = AgentFactory()
    ticket = TicketFactory(integration=integration, status="offered")
    open_offer = offer(ticket, agent)
    with on_commit:
        response = integration_client.post(f"/api/v1/tickets/{ticket.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    open_offer.refresh_from_db()
    assert (open_offer.status, open_offer.withdraw_reason) == ("withdrawn", "cancelled")
    assert (
        f"agent.{agent.pk}",
        {"type": "offer_withdrawn", "offer_id": str(open_offer.pk), "reason": "cancelled"},
    ) in [(group, {k: frame.get(k) for k in ("type", "offer_id", "reason")}) for group, frame in pushes]
    ticket.refresh_from_db()
    assert ticket.closed_at is not None


def test_cancelling_an_assigned_ticket_gives_the_agent_capacity_back(
    integration, integration_client, pushes, on_commit
):
    agent = AgentFactory()
    ticket = assign(TicketFactory(integration=integration), agent)
    with on_commit:
        assert integration_client.post(f"/api/v1/tickets/{ticket.pk}/cancel/").status_code == 200
    agent.refresh_from_db()
    assert agent.active_tickets == 0
    assert ("agent." + str(agent.pk), {"type": "ticket_cancelled", "ticket_id": str(ticket.pk)}) in pushes


def test_cancel_twice_is_harmless_and_a_finished_ticket_cannot_be_cancelled(integration, integration_client):
    ticket = TicketFactory(integration=integration)
    assert integration_client.post(f"/api/v1/tickets/{ticket.pk}/cancel/").status_code == 200
    assert integration_client.post(f"/api/v1/tickets/{ticket.pk}/cancel/").status_code == 200
    done = TicketFactory(integration=integration, status="resolved", assigned_agent=AgentFactory())
    response = integration_client.post(f"/api/v1/tickets/{done.pk}/cancel/")
    assert response.status_code == 409 and response.json()["code"] == "illegal_transition"


def test_another_integration_cannot_cancel(integration_client):
    ticket = TicketFactory()
    assert integration_client.post(f"/api/v1/tickets/{ticket.pk}/cancel/").status_code == 404
    ticket.refresh_from_db()
    assert ticket.status == "queued"


# ---------------------------------------------------------------- resolve, hand back, csat


def test_the_assigned_agent_resolves_with_outcome_and_bot_feedback(agent, agent_client, on_commit):
    set_policy(wrap_up_seconds=0)  # free at once; the wrap-up has its own tests (test_wrap_up.py)
    integration, _ = integration_with_token(webhook_url="http://127.0.0.1:9/hook")
    ticket = assign(TicketFactory(integration=integration), agent)
    body = {
        "outcome": "solved",
        "notes": "Refunded one charge.",
        "bot_feedback": {"escalation_avoidable": True, "comment": "Refund tool could do it."},
    }
    with on_commit:
        response = agent_client.post(f"/api/v1/tickets/{ticket.pk}/resolve/", body, format="json")
    assert response.status_code == 200, response.json()
    ticket.refresh_from_db()
    assert ticket.status == "resolved" and ticket.resolved_at is not None
    assert ticket.outcome == "solved" and ticket.resolution_notes == "Refunded one charge."
    assert ticket.bot_feedback == {"escalation_avoidable": True, "comment": "Refund tool could do it."}
    agent.refresh_from_db()
    assert agent.active_tickets == 0
    body = json.loads(WebhookDelivery.objects.get().body)
    assert body["event"] == "ticket.resolved" and body["ticket"]["status"] == "resolved"
    assert ("pay", {"ticket_id": ticket.pk}) in on_commit.calls
    again = agent_client.post(f"/api/v1/tickets/{ticket.pk}/resolve/", {"outcome": "solved"}, format="json")
    assert again.status_code == 409


def test_the_assigned_agent_hands_back_with_notes_for_the_bot(agent, agent_client, on_commit):
    set_policy(wrap_up_seconds=0)
    integration, _ = integration_with_token(webhook_url="http://127.0.0.1:9/hook")
    ticket = assign(TicketFactory(integration=integration), agent)
    with on_commit:
        response = agent_client.post(
            f"/api/v1/tickets/{ticket.pk}/hand-back/", {"notes": "Bot can finish."}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["status"] == "handed_back"
    body = json.loads(WebhookDelivery.objects.get().body)
    assert body["event"] == "ticket.handed_back" and body["hand_back"] == {"notes": "Bot can finish."}
    assert ("pay", {"ticket_id": ticket.pk}) in on_commit.calls


def test_another_agent_cannot_resolve_or_hand_back(agent_client):
    ticket = assign(TicketFactory(), AgentFactory())
    assert (
        agent_client.post(f"/api/v1/tickets/{ticket.pk}/resolve/", {"outcome": "solved"}, format="json").status_code
        == 404
    )
    assert agent_client.post(f"/api/v1/tickets/{ticket.pk}/hand-back/", {}, format="json").status_code == 404
    ticket.refresh_from_db()
    assert ticket.status == "assigned"


@pytest.mark.parametrize(
    "body", [{}, {"outcome": "great"}, {"outcome": "solved", "bot_feedback": {}}, {"outcome": "solved", "x": 1}]
)
def test_bad_resolutions_are_refused(agent, agent_client, body):
    ticket = assign(TicketFactory(), agent)
    assert agent_client.post(f"/api/v1/tickets/{ticket.pk}/resolve/", body, format="json").status_code == 400


def test_csat_is_recorded_once(integration, integration_client, on_commit):
    agent = AgentFactory()
    ticket = TicketFactory(integration=integration, status="resolved", assigned_agent=agent)
    url = f"/api/v1/tickets/{ticket.pk}/csat/"
    with on_commit:
        response = integration_client.post(url, {"score": 5, "comment": "Kind."}, format="json")
    assert response.status_code == 200
    assert response.json()["csat"]["score"] == 5
    agent.refresh_from_db()
    assert (agent.csat_sum, agent.csat_count) == (5, 1)
    assert ("csat", {"ticket_id": ticket.pk}) in on_commit.calls
    second = integration_client.post(url, {"score": 1}, format="json")
    assert second.status_code == 409 and second.json()["code"] == "csat_already_recorded"


@pytest.mark.parametrize("score", [0, 6, "five", None])
def test_csat_score_must_be_1_to_5(integration, integration_client, score):
    ticket = TicketFactory(integration=integration, status="resolved", assigned_agent=AgentFactory())
    response = integration_client.post(f"/api/v1/tickets/{ticket.pk}/csat/", {"score": score}, format="json")
    assert response.status_code == 400 and "score" in response.json()


def test_csat_for_a_ticket_no_human_handled_is_refused(integration, integration_client):
    ticket = TicketFactory(integration=integration)
    response = integration_client.post(f"/api/v1/tickets/{ticket.pk}/csat/", {"score": 4}, format="json")
    assert response.status_code == 409


# ---------------------------------------------------------------- the state machine


ILLEGAL = [
    (source, target)
    for source in TicketStatus.values
    for target in TicketStatus.values
    if target not in ALLOWED_TRANSITIONS[source]
]


@pytest.mark.parametrize("source, target", ILLEGAL, ids=[f"{s}->{t}" for s, t in ILLEGAL])
def test_the_state_machine_refuses_each_illegal_transition(source, target):
    ticket = TicketFactory(status=source, assigned_agent=AgentFactory())
    with pytest.raises(IllegalTransition) as refused:
        ticket_transition(ticket=ticket, to=target)
    assert refused.value.http_status == 409
    assert Ticket.objects.get(pk=ticket.pk).status == source


@pytest.mark.parametrize("source", ["resolved", "handed_back", "cancelled", "queued", "offered"])
def test_resolving_a_ticket_that_is_not_assigned_is_409(agent, agent_client, source):
    ticket = TicketFactory(status=source, assigned_agent=agent)
    for action, body in (("resolve", {"outcome": "solved"}), ("hand-back", {})):
        response = agent_client.post(f"/api/v1/tickets/{ticket.pk}/{action}/", body, format="json")
        assert response.status_code == 409, (action, source)
        assert response.json()["code"] == "illegal_transition"


def test_each_transition_is_timestamped(agent):
    ticket = TicketFactory()
    ticket_transition(ticket=ticket, to="offered")
    first_offered = ticket.first_offered_at
    ticket_transition(ticket=ticket, to="queued")
    ticket_transition(ticket=ticket, to="offered")
    assert ticket.first_offered_at == first_offered
    ticket_transition(ticket=ticket, to="assigned", assigned_agent=agent)
    ticket_transition(ticket=ticket, to="resolved")
    assert ticket.created_at <= ticket.first_offered_at <= ticket.assigned_at <= ticket.resolved_at
    assert ticket.closed_at is None  # stamped when the wrap-up ends, so the wrap-up is measured


# ---------------------------------------------------------------- supervisors


def test_supervisors_configure_the_skill_keywords(supervisor_client, integration_client):
    SkillFactory(code="payments")
    SkillFactory(code="refunds")
    rules = {r["skill"]: r for r in supervisor_client.get("/api/v1/skill-keywords/").json()["rules"]}
    assert rules["payments"]["source"] == "default" and "charge" in rules["payments"]["keywords"]
    response = supervisor_client.put(
        "/api/v1/skill-keywords/",
        {"rules": [{"skill": "payments", "keywords": ["Wallet "]}, {"skill": "refunds", "keywords": []}]},
        format="json",
    )
    assert response.status_code == 200
    rules = {r["skill"]: r for r in response.json()["rules"]}
    assert rules["payments"]["keywords"] == ["wallet"] and rules["payments"]["source"] == "configured"
    body = {
        "external_id": "k-1",
        "customer": {"ref": "c"},
        "language": "en",
        "reason": "policy",
        "summary": "My wallet was charged, I want a refund",
    }
    data = integration_client.post("/api/v1/tickets/", body, format="json").json()
    assert data["skill_inference"] == [{"skill": "payments", "keyword": "wallet", "source": "summary"}]


def test_keyword_rules_for_unknown_skills_are_refused(supervisor_client):
    response = supervisor_client.put(
        "/api/v1/skill-keywords/", {"rules": [{"skill": "astrology", "keywords": ["stars"]}]}, format="json"
    )
    assert response.status_code == 400 and "rules" in response.json()


def test_supervisors_read_the_delivery_log_and_redeliver(supervisor_client, on_commit):
    from tickets.webhooks import webhook_event_record

    integration, _ = integration_with_token(webhook_url="http://127.0.0.1:9/hook")
    ticket = TicketFactory(integration=integration)
    other = TicketFactory(integration=integration)
    with on_commit:
        delivery = webhook_event_record(ticket=ticket, event="ticket.resolved")
        webhook_event_record(ticket=other, event="ticket.resolved")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=20)
    log = supervisor_client.get(f"/api/v1/webhook-deliveries/?ticket={ticket.pk}").json()
    assert [(d["id"], d["status"], d["attempts"]) for d in log] == [(str(delivery.pk), "failed", 20)]
    assert len(supervisor_client.get("/api/v1/webhook-deliveries/").json()) == 2
    assert supervisor_client.get("/api/v1/webhook-deliveries/?ticket=nope").status_code == 400
    with on_commit:
        response = supervisor_client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 200 and response.json()["status"] == "pending"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at <= timezone.now()


def test_the_coaching_export_is_json_lines_of_finished_tickets(
    supervisor_client, integration_client, agent, agent_client
):
    SkillFactory(code="payments")
    body = {
        "external_id": "coach-1",
        "customer": {"ref": "c"},
        "language": "en",
        "reason": "bot_low_confidence",
        "skills": ["payments"],
        "summary": "Card charged twice",
        "handoff": {"bot_confidence": 0.2, "attempted": ["kb:refunds"]},
        "transcript": [{"role": "customer", "text": "Charged twice", "at": "2026-11-21T10:00:00+01:00"}],
    }
    ticket = Ticket.objects.get(pk=integration_client.post("/api/v1/tickets/", body, format="json").json()["id"])
    Ticket.objects.filter(pk=ticket.pk).update(
        status="resolved",
        assigned_agent=agent,
        closed_at=timezone.now(),
        outcome="solved",
        resolution_notes="Refunded.",
        bot_feedback={"escalation_avoidable": True, "comment": "Use the refund tool."},
        last_message_seq=2,
    )
    Message.objects.create(ticket=ticket, seq=2, author_kind="agent", text="Done!", at=timezone.now())
    TicketFactory()  # still queued: not exported
    today = timezone.now().date().isoformat()
    response = supervisor_client.get(f"/api/v1/coaching-export.jsonl?from={today}&to={today}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/jsonl")
    lines = b"".join(response.streaming_content).decode().splitlines()
    [record] = [json.loads(line) for line in lines]
    assert record["external_id"] == "coach-1"
    assert record["transcript"] == [{"role": "customer", "text": "Charged twice", "at": "2026-11-21T09:00:00+00:00"}]
    assert record["after_handoff"][0]["text"] == "Done!"
    assert record["handoff"]["bot_confidence"] == 0.2
    assert record["resolution_notes"] == "Refunded."
    assert record["bot_feedback"]["escalation_avoidable"] is True
    yesterday = (timezone.now() - dt.timedelta(days=2)).date().isoformat()
    empty = supervisor_client.get(f"/api/v1/coaching-export.jsonl?to={yesterday}")
    assert b"".join(empty.streaming_content) == b""
    assert supervisor_client.get("/api/v1/coaching-export.jsonl?from=soon").status_code == 400
