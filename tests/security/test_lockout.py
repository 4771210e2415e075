"""Lock-out after repeated failed sign-ins: per username, across the login page and the token endpoint."""

import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.models import AuditEntry
from tests.factories import PASSWORD, AgentFactory, UserFactory
from tests.security.counters import fresh_rate_counters  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def lockout_rules(settings):
    settings.LOGIN_LOCKOUT_FAILURES = 5
    settings.LOGIN_LOCKOUT_WINDOW_SECONDS = 15 * 60
    settings.LOGIN_LOCKOUT_SECONDS = 15 * 60


def token_attempt(username: str, password: str):
    # A fresh client per attempt: the per-address rate limit is another protection, not this one.
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_five_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused():
    agent = AgentFactory()
    username = agent.user.username

    answers = [token_attempt(username, f"guess-{n}") for n in range(5)]
    assert [a.status_code for a in answers[:4]] == [401] * 4
    assert answers[4].status_code == 429  # the fifth failure says at once that the account is locked

    refused = token_attempt(username, PASSWORD)
    assert refused.status_code == 429
    assert "token" not in refused.json()
    assert refused.json()["code"] == "login_locked"
    assert "Try again after" in refused.json()["message"]
    assert 14 * 60 < int(refused["Retry-After"]) <= 15 * 60


def test_the_lock_out_is_in_the_audit_log_and_on_the_supervisors_agent_page():
    agent = AgentFactory()
    for n in range(5):
        token_attempt(agent.user.username, f"guess-{n}")

    entry = AuditEntry.objects.get(action="auth.locked_out")
    assert (entry.subject_type, entry.subject_id) == ("agent", str(agent.pk))
    assert entry.actor_label == "system"
    assert "5 failed sign-ins" in entry.reason

    supervisor = UserFactory(role="supervisor")
    browser = Client()
    browser.force_login(supervisor)
    page = browser.get(f"/supervisor/pool/{agent.pk}/").content.decode()
    assert "Auth: locked out" in page and "5 failed sign-ins" in page  # the action in words, not its code


def test_a_burst_of_failures_locks_once():
    user = UserFactory(role="finance")
    for n in range(9):
        token_attempt(user.username, f"guess-{n}")

    assert AuditEntry.objects.filter(action="auth.locked_out", subject_id=str(user.pk)).count() == 1


def test_failures_on_the_login_page_and_the_token_endpoint_add_up():
    agent = AgentFactory()
    username = agent.user.username
    for n in range(3):
        assert Client().post("/login/", {"username": username, "password": f"guess-{n}"}).status_code == 200
    for n in range(2):
        token_attempt(username, f"guess-{n}")

    browser = Client()
    refused = browser.post("/login/", {"username": username, "password": PASSWORD})

    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed sign-ins for this account" in page and "Try again after" in page
    assert browser.get("/agent/").status_code == 302  # still not signed in


def test_a_successful_sign_in_clears_the_failures():
    agent = AgentFactory()
    username = agent.user.username
    for n in range(4):
        token_attempt(username, f"guess-{n}")
    assert token_attempt(username, PASSWORD).status_code == 200
    for n in range(4):
        token_attempt(username, f"guess-{n}")

    assert token_attempt(username, PASSWORD).status_code == 200
    assert not AuditEntry.objects.filter(action="auth.locked_out").exists()


def test_the_login_page_signs_in_once_the_lock_has_run_out(settings):
    settings.LOGIN_LOCKOUT_SECONDS = 1
    agent = AgentFactory()
    for n in range(5):
        token_attempt(agent.user.username, f"guess-{n}")
    assert token_attempt(agent.user.username, PASSWORD).status_code == 429

    time.sleep(1.5)  # the lock's own expiry, not a timing assertion

    browser = Client()
    signed_in = browser.post("/login/", {"username": agent.user.username, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert browser.get("/agent/").status_code == 200


def test_unknown_usernames_lock_the_same_way_so_the_answer_does_not_reveal_accounts():
    answers = [token_attempt("nobody-by-this-name", f"guess-{n}") for n in range(6)]

    assert [a.status_code for a in answers] == [401] * 4 + [429, 429]
    assert answers[5].json()["code"] == "login_locked"
    assert not AuditEntry.objects.filter(action="auth.locked_out").exists()


def test_another_account_is_not_affected():
    locked, other = AgentFactory(), AgentFactory()
    for n in range(5):
        token_attempt(locked.user.username, f"guess-{n}")

    assert token_attempt(other.user.username, PASSWORD).status_code == 200
