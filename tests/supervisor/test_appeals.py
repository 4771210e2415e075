import pytest

from agents.models import SuspensionAppeal
from agents.services import agent_suspend
from tests.conftest import client_with_token
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def suspended(supervisor):
    agent = AgentFactory()
    agent_suspend(agent=agent, actor=supervisor, reason="Rude to a customer on chat-77")
    return agent


def test_the_appeal_goes_to_a_different_supervisor(supervisor, supervisor_client, suspended):
    agent_client = client_with_token(suspended.user)
    created = agent_client.post("/api/v1/me/appeal/", {"text": "The customer insulted me first."}, format="json")
    assert created.status_code == 201
    appeal = created.json()
    assert appeal["suspended_by"] == supervisor.username
    assert appeal["suspension_reason"] == "Rude to a customer on chat-77"

    decide = f"/api/v1/appeals/{appeal['id']}/decide/"
    refused = supervisor_client.post(decide, {"decision": "reinstate", "reason": "ok"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "four_eyes" and "another supervisor" in refused.json()["message"]

    second = client_with_token(UserFactory(role="supervisor"))
    decided = second.post(
        decide, {"decision": "reinstate", "reason": "The chat log supports the agent."}, format="json"
    )
    assert decided.status_code == 200 and decided.json()["status"] == "reinstated"
    suspended.refresh_from_db()
    assert suspended.status == "active" and "chat log supports" in suspended.status_reason
    assert agent_client.get("/api/v1/me/appeal/").json()[0]["decision_reason"] == "The chat log supports the agent."
    assert second.post(decide, {"decision": "uphold", "reason": "x"}, format="json").status_code == 409


def test_upholding_keeps_the_suspension(suspended):
    agent_client = client_with_token(suspended.user)
    appeal = agent_client.post("/api/v1/me/appeal/", {"text": "Please"}, format="json").json()
    second = client_with_token(UserFactory(role="supervisor"))
    no_reason = second.post(
        f"/api/v1/appeals/{appeal['id']}/decide/", {"decision": "uphold", "reason": ""}, format="json"
    )
    assert no_reason.status_code == 400
    upheld = second.post(
        f"/api/v1/appeals/{appeal['id']}/decide/", {"decision": "uphold", "reason": "Repeated."}, format="json"
    )
    assert upheld.json()["status"] == "upheld"
    suspended.refresh_from_db()
    assert suspended.status == "suspended"


def test_one_open_appeal_and_only_when_suspended(suspended):
    agent_client = client_with_token(suspended.user)
    assert agent_client.post("/api/v1/me/appeal/", {"text": "one"}, format="json").status_code == 201
    again = agent_client.post("/api/v1/me/appeal/", {"text": "two"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "appeal_pending"
    active_client = client_with_token(AgentFactory().user)
    assert active_client.post("/api/v1/me/appeal/", {"text": "x"}, format="json").status_code == 409
    assert SuspensionAppeal.objects.count() == 1
