"""The board's lists of agents and of waiting tickets: what they say, and a bounded number of queries
however many agents and tickets (the board is recomputed every second while supervisors watch)."""

import pytest
from django.utils import timezone

from dispatch.policy import policy_current
from supervisor.selectors import board_agents, board_waiting_tickets
from tests.factories import AgentFactory, TicketFactory, online

pytestmark = pytest.mark.django_db


def test_the_agents_list_has_each_agents_state_load_languages_and_skills_in_four_queries(
    django_assert_num_queries,
):
    free = online(AgentFactory(display_name="Free F.", languages=["de", "sv"], skills={"payments": 3}))
    for _ in range(20):
        AgentFactory(languages=["en"])
    with django_assert_num_queries(4):
        agents = board_agents(now=timezone.now())
    assert len(agents) == 21
    first = agents[0]  # those who can work now come first
    assert (first["id"], first["state"], first["languages"], first["skills"]) == (
        str(free.pk),
        "available",
        ["de", "sv"],
        {"payments": 3},
    )
    assert (first["tickets_held"], first["capacity"], first["offers_today"]) == (0, 1, 0)


def test_why_a_ticket_waits_adds_up_and_is_counted_once_per_language_and_skills(django_assert_max_num_queries):
    online(AgentFactory(languages=["de"], skills={"payments": 3}))
    online(AgentFactory(languages=["sv"], skills={"returns": 3}))
    for _ in range(8):
        TicketFactory(language="sv", skills={"payments": 2})
    policy_current()
    with django_assert_max_num_queries(4):
        tickets = board_waiting_tickets(now=timezone.now(), policy=policy_current())
    assert len(tickets) == 8
    why = tickets[0]["why_waiting"]
    assert why == {
        "kind": "nobody_eligible",
        "online": 2,
        "eligible": 0,
        "excluded": {"wrong_language": 1, "missing_skill": 1},
    }
    assert why["online"] == why["eligible"] + sum(why["excluded"].values())
