import pytest

from agents.models import Agent, User
from core.models import AuditEntry
from tests.factories import AgentFactory, SkillFactory


def new_agent_body(**overrides):
    body = {
        "username": "maria",
        "password": "secret-pw",
        "display_name": "Maria",
        "languages": ["de", "en"],
        "skills": {"payments": 3},
        "max_concurrent": 2,
    }
    return {**body, **overrides}


@pytest.mark.django_db
def test_supervisor_creates_an_active_agent(supervisor_client, supervisor):
    SkillFactory(code="payments")
    response = supervisor_client.post("/api/v1/agents/", new_agent_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "active"
    assert body["id"]
    assert body["languages"] == ["de", "en"]
    assert body["skills"] == {"payments": 3}
    entry = AuditEntry.objects.get(action="agent.created")
    assert entry.actor == supervisor


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides, bad_field",
    [
        ({"skills": {"payments": 6}}, "skills"),
        ({"skills": {"payments": 0}}, "skills"),
        ({"skills": {"payments": "three"}}, "skills"),
        ({"skills": {"astrology": 2}}, "skills"),
        ({"languages": ["xx"]}, "languages"),
        ({"languages": "de"}, "languages"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_concurrent": "two"}, "max_concurrent"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
        ({"display_name": None}, "display_name"),
    ],
)
def test_bad_agent_input_is_refused_naming_the_field_and_stores_nothing(supervisor_client, overrides, bad_field):
    SkillFactory(code="payments")
    response = supervisor_client.post("/api/v1/agents/", new_agent_body(**overrides), format="json")
    assert response.status_code == 400
    assert bad_field in response.json()
    assert not User.objects.filter(username="maria").exists()
    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_duplicate_username_is_refused(supervisor_client):
    SkillFactory(code="payments")
    assert supervisor_client.post("/api/v1/agents/", new_agent_body(), format="json").status_code == 201
    response = supervisor_client.post("/api/v1/agents/", new_agent_body(display_name="Other"), format="json")
    assert response.status_code == 400
    assert "username" in response.json()
    assert Agent.objects.count() == 1


@pytest.mark.django_db
def test_patch_changes_skills_languages_and_capacity(supervisor_client):
    SkillFactory(code="refunds")
    agent = AgentFactory(skills={"payments": 2})
    response = supervisor_client.patch(
        f"/api/v1/agents/{agent.id}/",
        {"skills": {"refunds": 4}, "languages": ["sv"], "max_concurrent": 3},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["skills"] == {"refunds": 4}
    assert response.json()["languages"] == ["sv"]
    assert response.json()["max_concurrent"] == 3
    change = AuditEntry.objects.get(action="agent.updated")
    assert change.data["before"]["skills"] == {"payments": 2}
    assert change.data["after"]["skills"] == {"refunds": 4}


@pytest.mark.django_db
def test_suspend_and_reinstate_need_a_reason_and_are_audited(supervisor_client, supervisor):
    agent = AgentFactory()
    missing = supervisor_client.post(f"/api/v1/agents/{agent.id}/suspend/", {"reason": ""}, format="json")
    assert missing.status_code == 400
    assert "reason" in missing.json()
    agent.refresh_from_db()
    assert agent.status == "active"

    suspended = supervisor_client.post(f"/api/v1/agents/{agent.id}/suspend/", {"reason": "Rude replies"}, format="json")
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    reinstated = supervisor_client.post(
        f"/api/v1/agents/{agent.id}/reinstate/", {"reason": "Appeal upheld"}, format="json"
    )
    assert reinstated.json()["status"] == "active"

    entries = list(AuditEntry.objects.filter(subject_id=str(agent.id)).order_by("at", "id"))
    assert [(e.action, e.reason, e.actor) for e in entries] == [
        ("agent.suspended", "Rude replies", supervisor),
        ("agent.reinstated", "Appeal upheld", supervisor),
    ]


@pytest.mark.django_db
def test_suspended_agent_still_signs_in_and_sees_why(supervisor_client, agent, agent_client):
    supervisor_client.post(f"/api/v1/agents/{agent.id}/suspend/", {"reason": "Quality review"}, format="json")
    me = agent_client.get("/api/v1/me/").json()
    assert me["status"] == "suspended"
    assert me["status_reason"] == "Quality review"


@pytest.mark.django_db
def test_skills_and_integrations_are_created_by_supervisors(supervisor_client):
    skill = supervisor_client.post("/api/v1/skills/", {"code": "payments", "name": "Payments"}, format="json")
    assert skill.status_code == 201
    duplicate = supervisor_client.post("/api/v1/skills/", {"code": "payments", "name": "Again"}, format="json")
    assert duplicate.status_code == 400
    created = supervisor_client.post(
        "/api/v1/integrations/", {"name": "acme-bot", "webhook_url": "https://bot.example/hooks"}, format="json"
    )
    assert created.status_code == 201
    assert set(created.json()) >= {"id", "token", "webhook_secret"}


@pytest.mark.django_db
def test_audit_entries_cannot_be_changed_or_deleted_even_in_raw_sql(supervisor_client):
    from django.db import connection, transaction
    from django.db.utils import DatabaseError

    agent = AgentFactory()
    supervisor_client.post(f"/api/v1/agents/{agent.id}/suspend/", {"reason": "Check"}, format="json")
    entry = AuditEntry.objects.get(action="agent.suspended")
    for sql in (
        "UPDATE agents_auditentry SET reason = 'edited' WHERE id = %s",
        "DELETE FROM agents_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.id])
    entry.refresh_from_db()
    assert entry.reason == "Check"
