"""The supervisor's forms are for people: escalation steps as rows, an agent added from the pool, an
agent's languages edited; bad input is refused with the reason and nothing is stored."""

import pytest
from django.test import Client

from agents.models import Agent
from dispatch.policy import policy_current
from tests.factories import AgentFactory, SkillFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(supervisor):
    client = Client()
    client.force_login(supervisor)
    return client


def _steps_post(rows, reason="evening cover"):
    return {
        "step_after_seconds": [row[0] for row in rows],
        "step_action": [row[1] for row in rows],
        "step_value": [row[2] for row in rows],
        "change_reason": reason,
    }


def test_escalation_steps_are_edited_as_rows(browser):
    before = policy_current()
    page = browser.get("/supervisor/policy/").content.decode()
    assert 'name="step_after_seconds"' in page and "Lower the skill level asked by" in page
    assert "relax_skill_level, widen_fanout" not in page  # no JSON to write by hand
    rows = [
        ("60", "relax_skill_level", "1"),
        ("120", "widen_fanout", "3"),
        ("300", "alert_supervisors", ""),
        ("", "", ""),
    ]
    browser.post("/supervisor/policy/", _steps_post(rows))
    after = policy_current()
    assert after.version == before.version + 1
    assert sorted((s["after_seconds"], s["action"], s.get("value")) for s in after.escalation_steps) == [
        (60, "relax_skill_level", 1),
        (120, "widen_fanout", 3),
        (300, "alert_supervisors", None),
    ]
    page = browser.get("/supervisor/policy/").content.decode()
    assert page.count("<tr data-step>") == 3 + 2  # the steps in force and two empty rows to add one


def test_a_step_without_a_wait_is_refused_with_the_reason(browser):
    before = policy_current()
    response = browser.post("/supervisor/policy/", _steps_post([("soon", "widen_fanout", "3")]))
    assert response.status_code == 200
    assert 'data-testid="policy-errors"' in response.content.decode()
    assert policy_current().version == before.version
    assert 'value="soon"' in response.content.decode()  # what was typed is shown again


def test_an_agent_is_added_from_the_pool(browser):
    SkillFactory(code="payments", name="Payments")
    page = browser.get("/supervisor/pool/").content.decode()
    assert 'data-testid="add-agent"' in page
    response = browser.post(
        "/supervisor/pool/",
        {
            "display_name": "Nora N.",
            "username": "nora",
            "password": "first-pass-1",
            "languages": ["de", "sv"],
            "skill": "payments",
            "level": "4",
        },
    )
    agent = Agent.objects.get(user__username="nora")
    assert response.url == f"/supervisor/pool/{agent.pk}/"
    assert sorted(agent.language_rows.values_list("code", flat=True)) == ["de", "sv"]
    assert dict(agent.skill_levels.values_list("skill__code", "level")) == {"payments": 4}
    assert agent.user.check_password("first-pass-1")


def test_an_agent_without_a_language_is_not_added(browser):
    browser.post("/supervisor/pool/", {"display_name": "Nora N.", "username": "nora", "password": "first-pass-1"})
    assert not Agent.objects.filter(user__username="nora").exists()
    page = browser.get("/supervisor/pool/").content.decode()
    assert "Choose at least one language the agent speaks." in page


def test_an_agents_languages_are_edited_on_their_page(browser):
    agent = AgentFactory(languages=["de"])
    page = browser.get(f"/supervisor/pool/{agent.pk}/").content.decode()
    assert 'data-testid="agent-languages"' in page
    browser.post(f"/supervisor/pool/{agent.pk}/", {"action": "languages", "languages": ["en", "sv"]})
    assert sorted(agent.language_rows.values_list("code", flat=True)) == ["en", "sv"]
    browser.post(f"/supervisor/pool/{agent.pk}/", {"action": "languages"})
    assert sorted(agent.language_rows.values_list("code", flat=True)) == ["en", "sv"]  # none chosen: refused
