"""Rate limits on the login page, the token endpoint and the intake: 429 with Retry-After once spent.

Small limits are set per test; the counters are real Redis keys, emptied before and after each test.
"""

import multiprocessing

import pytest
from rest_framework.test import APIClient

from core.ratelimit import RateLimited, rate_limit_check
from tests.factories import PASSWORD, AgentFactory, SkillFactory, integration_with_token
from tests.security.counters import fresh_rate_counters  # noqa: F401 - autouse fixture
from tests.tickets.test_intake import escalation
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def limit(settings, scope: str, rate: str):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, scope: rate}


def assert_retry_after_within(response, seconds: int):
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= seconds


def test_intake_over_the_limit_is_429_with_retry_after_and_stores_nothing(settings):
    SkillFactory(code="payments")
    limit(settings, "intake", "3/hour")
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token()[1]}")

    answers = [bot.post("/api/v1/tickets/", escalation(external_id=f"chat-{n}"), format="json") for n in range(4)]

    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    refused = answers[-1]
    assert_retry_after_within(refused, 3600)
    assert refused["Content-Type"] == "application/json"
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["retry_after_seconds"] == int(refused["Retry-After"])
    assert not Ticket.objects.filter(external_id="chat-3").exists()


def test_intake_limit_is_per_integration(settings):
    SkillFactory(code="payments")
    limit(settings, "intake", "1/hour")
    busy, quiet = APIClient(), APIClient()
    busy.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token()[1]}")
    quiet.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token()[1]}")

    assert busy.post("/api/v1/tickets/", escalation(external_id="a"), format="json").status_code == 201
    assert busy.post("/api/v1/tickets/", escalation(external_id="b"), format="json").status_code == 429
    assert quiet.post("/api/v1/tickets/", escalation(external_id="a"), format="json").status_code == 201


def test_reading_a_ticket_is_not_counted_against_the_intake_limit(settings):
    SkillFactory(code="payments")
    limit(settings, "intake", "1/hour")
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token()[1]}")
    ticket_id = bot.post("/api/v1/tickets/", escalation(), format="json").json()["id"]

    assert all(bot.get(f"/api/v1/tickets/{ticket_id}/").status_code == 200 for _ in range(3))


def test_token_endpoint_over_the_limit_refuses_even_the_right_password(settings, api_client):
    limit(settings, "token", "2/hour")
    agent = AgentFactory()
    wrong = {"username": agent.user.username, "password": "not-it"}
    right = {"username": agent.user.username, "password": PASSWORD}

    assert api_client.post("/api/v1/auth/token/", wrong, format="json").status_code == 401
    assert api_client.post("/api/v1/auth/token/", right, format="json").status_code == 200
    refused = api_client.post("/api/v1/auth/token/", right, format="json")

    assert refused.status_code == 429
    assert "token" not in refused.json()
    assert refused.json()["code"] == "rate_limited"
    assert_retry_after_within(refused, 3600)


def test_token_limit_counts_per_client_address(settings):
    limit(settings, "token", "1/hour")
    agent = AgentFactory()
    right = {"username": agent.user.username, "password": PASSWORD}
    first, second = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")

    assert first.post("/api/v1/auth/token/", right, format="json").status_code == 200
    assert first.post("/api/v1/auth/token/", right, format="json").status_code == 429
    assert second.post("/api/v1/auth/token/", right, format="json").status_code == 200


def test_login_page_over_the_limit_says_so_and_does_not_sign_in(settings, client):
    limit(settings, "login", "2/hour")
    agent = AgentFactory()
    for _ in range(2):
        client.post("/login/", {"username": agent.user.username, "password": "not-it"})

    refused = client.post("/login/", {"username": agent.user.username, "password": PASSWORD})

    assert refused.status_code == 429
    assert_retry_after_within(refused, 3600)
    page = refused.content.decode()
    assert "Too many sign-in attempts from your address. Try again in" in page
    assert 'name="password"' in page  # the form is still there to try again later
    assert client.get("/agent/").status_code == 302  # not signed in: sent to the login page
    assert client.get("/login/").status_code == 200  # looking at the page is not limited


def _count_requests(args) -> list[bool]:
    # Runs in a forked child: Redis only, never the parent's database connection.
    scope, identity, requests = args
    allowed = []
    for _ in range(requests):
        try:
            rate_limit_check(scope=scope, identity=identity)
            allowed.append(True)
        except RateLimited:
            allowed.append(False)
    return allowed


def test_processes_share_one_counter_and_together_get_exactly_the_limit(settings):
    """Four processes send 25 requests each at once; the limit of 60 admits exactly 60 of the 100."""
    limit(settings, "intake", "60/hour")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_count_requests, [("intake", "one-integration", 25)] * 4)

    admitted = sum(sum(allowed) for allowed in results)
    assert admitted == 60
