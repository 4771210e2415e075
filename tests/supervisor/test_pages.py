"""Every supervisor page renders, is for supervisors only, and refuses bad input with the reason."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Agent, Shift
from dispatch.models import DispatchPolicy
from tests.factories import AgentFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(supervisor):
    client = Client()
    client.force_login(supervisor)
    return client


def test_every_page_renders(browser):
    agent = AgentFactory()
    ticket = TicketFactory()
    for path in [
        "/supervisor/",
        "/supervisor/tickets/",
        f"/supervisor/tickets/{ticket.pk}/",
        "/supervisor/pool/",
        f"/supervisor/pool/{agent.pk}/",
        "/supervisor/appeals/",
        "/supervisor/shifts/",
        "/supervisor/quality/",
        "/supervisor/policy/",
    ]:
        response = browser.get(path)
        assert response.status_code == 200, path


def test_pages_are_for_supervisors_only():
    client = Client()
    client.force_login(AgentFactory().user)
    assert client.get("/supervisor/pool/").status_code == 403
    assert Client().get("/supervisor/pool/").status_code == 302  # to sign in


def test_policy_with_a_timeout_out_of_range_is_refused(browser):
    from dispatch.policy import policy_current

    policy_current()
    before = DispatchPolicy.objects.count()
    response = browser.post("/supervisor/policy/", {"offer_timeout_seconds": "1", "change_reason": "faster"})
    assert response.status_code == 200
    assert (
        "less than or equal to 300" in response.content.decode()
        or "greater than or equal to 3" in response.content.decode()
    )
    assert DispatchPolicy.objects.count() == before


def test_policy_change_is_saved_with_history(browser, supervisor):
    browser.get("/supervisor/policy/")
    response = browser.post(
        "/supervisor/policy/", {"offer_timeout_seconds": "30", "change_reason": "evening"}, follow=True
    )
    page = response.content.decode()
    assert "is in force" in page and "evening" in page and supervisor.username in page


def test_impossible_shift_is_refused_on_the_page(browser):
    start = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = browser.post("/supervisor/shifts/", {"starts_at": start, "ends_at": start, "places": "0"})
    page = response.content.decode()
    assert "must end after it starts" in page and "at least one place" in page
    assert Shift.objects.count() == 0


def test_suspend_from_the_agent_page_needs_a_reason(browser):
    agent = AgentFactory()
    response = browser.post(f"/supervisor/pool/{agent.pk}/", {"action": "suspend", "reason": ""}, follow=True)
    assert "A reason is required" in response.content.decode()
    agent.refresh_from_db()
    assert agent.status == Agent.Status.ACTIVE
    browser.post(f"/supervisor/pool/{agent.pk}/", {"action": "suspend", "reason": "Left customers waiting"})
    agent.refresh_from_db()
    assert (agent.status, agent.status_reason) == ("suspended", "Left customers waiting")


def test_the_suspending_supervisor_cannot_decide_the_appeal_on_the_page(browser, supervisor):
    from actions.supervision import appeal_submit
    from agents.services import agent_suspend

    agent = AgentFactory()
    agent_suspend(agent=agent, actor=supervisor, reason="x")
    appeal = appeal_submit(agent=agent, text="please")
    response = browser.post(
        "/supervisor/appeals/", {"appeal_id": appeal.pk, "decision": "reinstate", "reason": "ok"}, follow=True
    )
    assert "another supervisor must decide" in response.content.decode()
    other = Client()
    other.force_login(UserFactory(role="supervisor"))
    other.post("/supervisor/appeals/", {"appeal_id": appeal.pk, "decision": "reinstate", "reason": "ok"})
    agent.refresh_from_db()
    assert agent.status == "active"
