"""GET /api/v1/availability/: what the bot can tell the customer before it hands over."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from dispatch.availability import FRESH_SECONDS, availability_cache_clear
from tests.factories import AgentFactory, TicketFactory, online
from tickets.models import TicketStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/availability/"


@pytest.fixture(autouse=True)
def _fresh_answers():
    availability_cache_clear()
    yield
    availability_cache_clear()


def test_online_and_free_agents_of_the_language_and_skills_queue_and_wait(integration_client, policy):
    free = online(AgentFactory(languages=["de"], skills={"payments": 3}))
    busy = online(AgentFactory(languages=["de"], skills={"payments": 2}, max_concurrent=1))
    Agent.objects.filter(pk=busy.pk).update(active_tickets=1)
    online(AgentFactory(languages=["de"], skills={"refunds": 3}))  # lacks the skill
    online(AgentFactory(languages=["en"], skills={"payments": 3}))  # another language
    AgentFactory(languages=["de"], skills={"payments": 3})  # offline
    now = timezone.now()
    for _ in range(2):
        TicketFactory(language="de", queued_at=now)
    TicketFactory(language="en", queued_at=now)
    # Three tickets assigned in the last 15 minutes: 900 s / 3 = 300 s per place in the queue.
    for minutes in (1, 2, 3):
        TicketFactory(
            language="de",
            status=TicketStatus.ASSIGNED,
            assigned_agent=free,
            queued_at=now - timedelta(minutes=20),
            assigned_at=now - timedelta(minutes=minutes),
        )

    body = integration_client.get(URL, {"language": "de", "skills": "payments"}).json()

    assert body == {
        "agents_online": 2,
        "agents_free": 1,
        "queue_length": 2,
        "estimated_wait_seconds": 900,  # behind the two queued: (2 + 1) x 300 s
        "open": True,
    }


def test_nobody_there_is_closed_with_no_estimate(integration_client, policy):
    online(AgentFactory(languages=["en"]))
    body = integration_client.get(URL, {"language": "sv"}).json()
    assert body == {
        "agents_online": 0,
        "agents_free": 0,
        "queue_length": 0,
        "estimated_wait_seconds": None,
        "open": False,
    }


def test_a_free_agent_and_an_empty_queue_mean_no_wait(integration_client, policy):
    online(AgentFactory(languages=["sv"]))
    body = integration_client.get(URL, {"language": "sv"}).json()
    assert (body["open"], body["agents_free"], body["estimated_wait_seconds"]) == (True, 1, 0)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"language": "xx"}, "language"), ({}, "language"), ({"language": "de", "skills": "nope"}, "skills")],
)
def test_bad_queries_name_the_field(integration_client, policy, params, field):
    response = integration_client.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_only_integrations_ask(agent_client, api_client):
    assert agent_client.get(URL, {"language": "de"}).status_code == 403
    assert api_client.get(URL, {"language": "de"}).status_code == 401


def test_it_costs_a_few_queries_whatever_the_pool(integration_client, policy, django_assert_max_num_queries):
    for _ in range(20):
        online(AgentFactory(languages=["de"], skills={"payments": 3}))
    with django_assert_max_num_queries(8):  # the token, the policy, agents, queue, throughput
        assert integration_client.get(URL, {"language": "de", "skills": "payments"}).json()["agents_online"] == 20


def test_an_answer_is_reused_for_two_seconds_then_read_again(integration_client, policy, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("dispatch.availability.time.monotonic", lambda: clock[0])
    online(AgentFactory(languages=["sv"]))
    assert integration_client.get(URL, {"language": "sv"}).json()["agents_online"] == 1
    online(AgentFactory(languages=["sv"]))
    assert integration_client.get(URL, {"language": "sv"}).json()["agents_online"] == 1
    clock[0] += FRESH_SECONDS
    assert integration_client.get(URL, {"language": "sv"}).json()["agents_online"] == 2
