import copy
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from dispatch.policy import policy_current
from tests.factories import SkillFactory, integration_with_token
from tickets.models import Message, Ticket, TicketSkill

pytestmark = pytest.mark.django_db

URL = "/api/v1/tickets/"


def escalation(**overrides) -> dict:
    body = {
        "external_id": "chat-8812",
        "customer": {"ref": "c-42", "display_name": "Anna", "tier": "standard", "vulnerable": False},
        "language": "de",
        "skills": ["payments"],
        "reason": "customer_request",
        "priority": 2,
        "sentiment": -0.6,
        "summary": "Double charge on order 1234, customer upset",
        "handoff": {
            "bot_confidence": 0.31,
            "attempted": ["kb:refund-policy", "tool:order-lookup"],
            "verified_facts": {"order_id": "1234", "identity_checked": True},
            "suggested_next_step": "refund one of the two charges",
        },
        "transcript": [
            {"role": "customer", "text": "I was charged twice!", "at": "2026-11-21T10:00:00+01:00"},
            {"role": "bot", "text": "Let me get a colleague.", "at": "2026-11-21T10:00:05+01:00"},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture(autouse=True)
def demo_skills(db):
    for code in ("payments", "refunds", "fraud", "account"):
        SkillFactory(code=code)


def test_intake_creates_a_queued_ticket_with_everything_the_agent_needs(integration_client, integration):
    response = integration_client.post(URL, escalation(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["external_id"] == "chat-8812"
    assert {"id", "created_at"} <= set(body)
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.integration == integration
    assert ticket.queued_at == ticket.created_at
    assert ticket.priority == 2 and not ticket.priority_was_derived
    assert float(ticket.sentiment) == -0.6
    assert ticket.handoff["verified_facts"] == {"order_id": "1234", "identity_checked": True}
    assert list(ticket.messages.values_list("seq", "author_kind", "text")) == [
        (1, "customer", "I was charged twice!"),
        (2, "bot", "Let me get a colleague."),
    ]
    assert ticket.last_message_seq == 2
    assert list(TicketSkill.objects.filter(ticket=ticket).values_list("skill__code", "min_level")) == [
        ("payments", policy_current().default_skill_level)
    ]
    assert body["skills"] == [{"code": "payments", "min_level": 1}]
    assert body["queue_position"] == 1
    assert body["agent"] is None


def test_the_same_external_id_again_returns_the_same_ticket_with_200(integration_client):
    first = integration_client.post(URL, escalation(), format="json")
    again = integration_client.post(URL, escalation(summary="something else"), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["summary"] == "Double charge on order 1234, customer upset"
    assert Ticket.objects.count() == 1
    assert Message.objects.count() == 2


def test_the_same_external_id_from_another_integration_is_another_ticket(integration_client):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token()[1]}")
    assert integration_client.post(URL, escalation(), format="json").status_code == 201
    assert other.post(URL, escalation(), format="json").status_code == 201
    assert Ticket.objects.count() == 2


def test_minimal_escalation_is_accepted(integration_client):
    body = {"external_id": "x-1", "customer": {"ref": "c-1"}, "language": "en", "reason": "policy"}
    response = integration_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get()
    assert ticket.customer_tier == "standard"
    assert ticket.priority_was_derived
    assert ticket.messages.count() == 0


def _set(body: dict, path: str, value):
    target = body
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[int(last) if isinstance(target, list) else last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


_DELETE = object()
LONG_TEXT = "x" * 40_000

BAD_INPUT = [
    # (what to change, value, the field the 400 must name)
    ("external_id", "", "external_id"),
    ("external_id", _DELETE, "external_id"),
    ("external_id", "x" * 201, "external_id"),
    ("customer", _DELETE, "customer"),
    ("customer", "anna", "customer"),
    ("customer.ref", _DELETE, "customer.ref"),
    ("customer.tier", "gold", "customer.tier"),
    ("customer.vulnerable", "maybe", "customer.vulnerable"),
    ("customer.age", 42, "customer.age"),
    ("language", "xx", "language"),
    ("language", "deu", "language"),
    ("language", _DELETE, "language"),
    ("skills", ["payments", "astrology"], "skills"),
    ("skills", "payments", "skills"),
    ("skills", [f"s{i}" for i in range(21)], "skills"),
    ("reason", "bored", "reason"),
    ("reason", _DELETE, "reason"),
    ("priority", 4, "priority"),
    ("priority", -1, "priority"),
    ("priority", "high", "priority"),
    ("sentiment", 1.5, "sentiment"),
    ("sentiment", -1.01, "sentiment"),
    ("summary", "s" * 4001, "summary"),
    ("handoff", [], "handoff"),
    ("handoff.bot_confidence", 1.2, "handoff.bot_confidence"),
    ("handoff.attempted", "kb", "handoff.attempted"),
    ("handoff.verified_facts", ["a"], "handoff.verified_facts"),
    ("handoff.verified_facts", {"blob": "x" * 9000}, "handoff.verified_facts"),
    ("handoff.mood", "sad", "handoff.mood"),
    ("transcript", "hello", "transcript"),
    ("transcript.0.role", "agent", "transcript.0.role"),
    ("transcript.0.role", _DELETE, "transcript.0.role"),
    ("transcript.0.text", _DELETE, "transcript.0.text"),
    ("transcript.0.text", "", "transcript.0.text"),
    ("transcript.0.at", _DELETE, "transcript.0.at"),
    ("transcript.0.at", "yesterday", "transcript.0.at"),
    ("transcript.0.at", "2026-11-21T10:00:00", "transcript.0.at"),
    ("transcript.1.extra", 1, "transcript.1.extra"),
    ("transcript", [{"role": "bot", "text": "hi", "at": "2026-11-21T10:00:00Z"}] * 201, "transcript"),
    ("transcript", [{"role": "bot", "text": LONG_TEXT, "at": "2026-11-21T10:00:00Z"}] * 2, "transcript"),
    ("colour", "blue", "colour"),
]


def _named(errors: dict, path: str) -> bool:
    node = errors
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


@pytest.mark.parametrize("path, value, field", BAD_INPUT, ids=[f"{p}={str(v)[:20]}" for p, v, _ in BAD_INPUT])
def test_bad_input_is_400_naming_the_field_and_stores_nothing(integration_client, path, value, field):
    body = _set(copy.deepcopy(escalation()), path, value)
    response = integration_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert _named(response.json(), field), response.json()
    assert Ticket.objects.count() == 0
    assert Message.objects.count() == 0


def test_every_bad_field_is_named_in_one_answer(integration_client):
    body = escalation(language="xx", priority=9, colour="blue", reason="bored")
    body["transcript"][1]["role"] = "agent"
    errors = integration_client.post(URL, body, format="json").json()
    assert {"language", "priority", "colour", "reason", "transcript"} <= set(errors)
    assert set(errors["transcript"]) == {"1"}


def test_a_body_that_is_not_an_object_is_refused(integration_client):
    assert integration_client.post(URL, [1, 2], format="json").status_code == 400


def test_the_limits_themselves_are_accepted(integration_client):
    entries = [{"role": "customer", "text": "y" * 327, "at": "2026-11-21T10:00:00Z"}] * 200  # 65,400 bytes
    response = integration_client.post(URL, escalation(transcript=entries), format="json")
    assert response.status_code == 201
    assert Message.objects.count() == 200


def test_priority_is_derived_when_absent(integration_client):
    body = escalation(priority=None, reason="sensitive", sentiment=-0.8)
    body["customer"]["vulnerable"] = True
    ticket = Ticket.objects.get(pk=integration_client.post(URL, body, format="json").json()["id"])
    assert ticket.priority == 3
    assert ticket.priority_was_derived


def test_skills_are_inferred_from_the_transcript_when_absent_and_shown_as_such(integration_client):
    body = escalation(skills=[], summary="Customer wants help")
    body["transcript"][0]["text"] = "Someone made an unauthorized payment from my card, please refund me"
    data = integration_client.post(URL, body, format="json").json()
    assert data["skills_were_inferred"] is True
    assert [s["code"] for s in data["skills"]] == ["fraud", "payments", "refunds"]
    assert {"skill": "fraud", "keyword": "unauthorized", "source": "transcript[0]"} in data["skill_inference"]


def test_vip_or_vulnerable_customers_need_one_level_more(integration_client):
    body = escalation()
    body["customer"]["tier"] = "vip"
    body["customer"]["vulnerable"] = True
    data = integration_client.post(URL, body, format="json").json()
    assert data["skills"] == [{"code": "payments", "min_level": policy_current().default_skill_level + 1}]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_escalations_make_one_ticket():
    SkillFactory(code="payments")
    _, token = integration_with_token()
    barrier = threading.Barrier(20)
    statuses, ids = [], []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait(timeout=30)
            response = client.post(URL, escalation(), format="json")
            statuses.append(response.status_code)
            ids.append(response.json().get("id"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] * 19 + [201]
    assert len(set(ids)) == 1
    assert Ticket.objects.count() == 1
    assert Message.objects.count() == 2
