"""POST /api/v1/conversations/: the bot reports every conversation; refusals store nothing."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import SkillFactory, integration_with_token
from tickets.models import Conversation, Ticket

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def report(**overrides) -> dict:
    body = {
        "external_id": "conv-1",
        "language": "de",
        "outcome": "contained",
        "topic": "order_status",
        "csat": 5,
        "started_at": "2026-11-21T10:00:00+01:00",
        "ended_at": "2026-11-21T10:03:00+01:00",
    }
    body.update(overrides)
    return body


def client_of(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_contained_conversation_is_recorded(integration_client, integration):
    response = integration_client.post(URL, report(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["external_id"], body["outcome"], body["topic"], body["csat"]) == (
        "conv-1",
        "contained",
        "order_status",
        5,
    )
    row = Conversation.objects.get()
    assert row.integration == integration and row.language == "de"
    assert row.ended_at.isoformat() == "2026-11-21T09:03:00+00:00"


def test_the_same_external_id_again_updates_outcome_and_csat_with_200(integration_client):
    first = integration_client.post(URL, report(outcome="escalated", csat=None, ended_at=None), format="json")
    again = integration_client.post(URL, report(outcome="escalated", csat=2), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["csat"] == 2
    row = Conversation.objects.get()
    assert (row.outcome, row.csat) == ("escalated", 2)
    assert row.ended_at is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", "resolved_by_magic"),
        ("topic", "x" * 101),
        ("csat", 6),
        ("csat", 0),
        ("language", "xx"),
        ("ended_at", "2026-11-21T09:59:00+01:00"),
        ("started_at", "2026-11-21T10:00:00"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(integration_client, field, value):
    response = integration_client.post(URL, report(**{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert Conversation.objects.count() == 0


def test_a_report_again_with_an_end_before_the_first_start_changes_nothing(integration_client):
    integration_client.post(URL, report(), format="json")
    again = integration_client.post(
        URL,
        report(started_at="2026-11-21T08:00:00+01:00", ended_at="2026-11-21T08:30:00+01:00", outcome="abandoned"),
        format="json",
    )
    assert again.status_code == 400
    assert "ended_at" in again.json()
    assert Conversation.objects.get().outcome == "contained"


def test_another_integrations_conversation_is_invisible(integration_client):
    other_client = client_of(integration_with_token()[1])
    mine = integration_client.post(URL, report(), format="json").json()
    assert other_client.get(f"{URL}{mine['id']}/").status_code == 404
    assert integration_client.get(f"{URL}{mine['id']}/").status_code == 200
    # The same external id from another bot platform is its own conversation, not this one.
    theirs = other_client.post(URL, report(outcome="abandoned"), format="json")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert integration_client.get(f"{URL}{mine['id']}/").json()["outcome"] == "contained"


def test_escalations_belong_to_their_conversation_and_another_integrations_id_is_refused(integration_client):
    SkillFactory(code="payments")
    conversation = integration_client.post(URL, report(outcome="escalated"), format="json").json()
    escalation = {
        "external_id": "chat-1",
        "customer": {"ref": "c-1"},
        "language": "de",
        "skills": ["payments"],
        "reason": "customer_request",
        "conversation_id": "conv-1",
        "topic": "refund",
    }
    created = integration_client.post("/api/v1/tickets/", escalation, format="json")
    assert created.status_code == 201, created.json()
    assert (created.json()["conversation_id"], created.json()["topic"]) == ("conv-1", "refund")
    detail = integration_client.get(f"{URL}{conversation['id']}/").json()
    assert [e["external_id"] for e in detail["escalations"]] == ["chat-1"]

    other_client = client_of(integration_with_token()[1])
    other_client.post(URL, report(external_id="conv-theirs"), format="json")
    refused = integration_client.post(
        "/api/v1/tickets/", {**escalation, "external_id": "chat-2", "conversation_id": "conv-theirs"}, format="json"
    )
    assert refused.status_code == 400
    assert "conversation_id" in refused.json()
    too_long = integration_client.post(
        "/api/v1/tickets/", {**escalation, "external_id": "chat-3", "topic": "t" * 101}, format="json"
    )
    assert too_long.status_code == 400 and "topic" in too_long.json()
    assert Ticket.objects.count() == 1


def test_people_cannot_report_conversations(agent_client, supervisor_client, api_client):
    assert agent_client.post(URL, report(), format="json").status_code == 403
    assert supervisor_client.post(URL, report(), format="json").status_code == 403
    assert api_client.post(URL, report(), format="json").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_identical_reports_racing_store_one_conversation(integration_with_token):
    token = integration_with_token[1]
    barrier = threading.Barrier(8)
    codes = []

    def send():
        client = client_of(token)
        barrier.wait()
        try:
            codes.append(client.post(URL, report(), format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 7 + [201]
    assert Conversation.objects.count() == 1
