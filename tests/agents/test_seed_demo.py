import pytest
from django.core.management import call_command

from agents.models import Agent, AgentLanguage, AgentSkill, Integration, Skill, User
from core.models import AuditEntry


def snapshot():
    return {
        "users": sorted(User.objects.values_list("username", "password")),
        "agents": sorted(Agent.objects.values_list("user__username", "display_name", "payout_iban", "max_concurrent")),
        "skills": sorted(AgentSkill.objects.values_list("agent__user__username", "skill__code", "level")),
        "languages": sorted(AgentLanguage.objects.values_list("agent__user__username", "code")),
        "integrations": sorted(Integration.objects.values_list("name", "token_hash", "webhook_secret")),
        "audit": AuditEntry.objects.count(),
    }


@pytest.mark.django_db
def test_seed_demo_creates_the_contract_accounts_and_is_idempotent(capsys):
    call_command("seed_demo")
    first_output = capsys.readouterr().out
    first = snapshot()
    call_command("seed_demo")
    second_output = capsys.readouterr().out
    assert snapshot() == first
    assert first_output == second_output

    assert set(Skill.objects.values_list("code", flat=True)) == {
        "payments",
        "refunds",
        "disputes",
        "fraud",
        "account",
        "vulnerable_customers",
    }
    usernames = set(User.objects.values_list("username", flat=True))
    assert {f"agent{n:02d}" for n in range(1, 26)} <= usernames
    assert {"supervisor", "finance", "finance2"} <= usernames
    assert Agent.objects.count() == 25
    assert set(AgentLanguage.objects.values_list("code", flat=True)) == {"de", "en", "sv"}
    assert all(agent.has_valid_payout_details for agent in Agent.objects.all())
    token = Integration.objects.get(name="demo-bot")
    assert "dpi_" in first_output and token


@pytest.mark.django_db
def test_demo_passwords_come_from_the_environment_setting(settings, api_client):
    settings.DEMO_PASSWORD = "s3cret"
    call_command("seed_demo")
    response = api_client.post("/api/v1/auth/token/", {"username": "finance2", "password": "s3cret"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "finance"
