"""Presence the agent controls: a break (reason and timer) and "no new work" (finish what I hold), both
offered nothing; the supervisor's board counts each (issue 17)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from actions.people import presence_change
from agents.models import Agent
from core.errors import InvalidInput
from dispatch import services
from supervisor.selectors import ACTIVE_STATES, board_snapshot
from tests.conftest import client_with_token
from tests.factories import AgentFactory, TicketFactory, online

pytestmark = pytest.mark.django_db


def test_a_break_needs_a_reason_and_has_a_timer():
    agent = online(AgentFactory())
    with pytest.raises(InvalidInput) as refused:
        presence_change(agent=agent, status="break")
    assert "reason" in refused.value.fields
    with pytest.raises(InvalidInput) as too_long:
        presence_change(agent=agent, status="break", reason="lunch", break_minutes=500)
    assert "minutes" in too_long.value.fields
    agent.refresh_from_db()
    assert agent.presence == "online" and agent.break_until is None  # nothing changed

    before = timezone.now()
    agent = presence_change(agent=agent, status="break", reason="lunch", break_minutes=30)

    assert (agent.presence, agent.presence_reason) == ("break", "lunch")
    assert before + timedelta(minutes=30) <= agent.break_until <= timezone.now() + timedelta(minutes=30)
    back = presence_change(agent=agent, status="online")
    assert back.presence == "online" and back.break_until is None


@pytest.mark.parametrize("pause", ["break", "no_new_work"])
def test_an_agent_on_a_break_or_taking_no_new_work_is_offered_nothing(pause):
    paused = online(AgentFactory(languages=["de"], max_concurrent=2))
    holding = TicketFactory(language="de")
    [offer] = services.ticket_dispatch(ticket_id=holding.pk)
    services.offer_accept(offer_id=offer.pk, agent=paused)
    presence_change(agent=paused, status=pause, reason="lunch")

    waiting = TicketFactory(language="de")
    assert services.ticket_dispatch(ticket_id=waiting.pk) == []  # room for one more, but paused

    # They still finish what they hold.
    client = client_with_token(paused.user)
    resolved = client.post(f"/api/v1/tickets/{holding.pk}/resolve/", {"outcome": "solved"}, format="json")
    assert resolved.status_code == 200
    presence_change(agent=Agent.objects.get(pk=paused.pk), status="online")
    [offer] = services.ticket_dispatch(ticket_id=waiting.pk)
    assert offer.agent_id == paused.pk


def test_the_board_counts_breaks_and_no_new_work_within_the_active_whole():
    online(AgentFactory())
    on_break = online(AgentFactory())
    presence_change(agent=on_break, status="break", reason="coffee", break_minutes=10)
    finishing = online(AgentFactory())
    presence_change(agent=finishing, status="no_new_work")

    agents = board_snapshot()["agents"]

    assert (agents["on_break"], agents["no_new_work"], agents["online"]) == (1, 1, 1)
    assert agents["active"] == 3 == sum(agents[state] for state in ACTIVE_STATES)
    assert "on_break" in board_snapshot()["definitions"]["agents"]


def test_an_unknown_presence_is_refused_naming_the_choices():
    with pytest.raises(InvalidInput) as refused:
        presence_change(agent=online(AgentFactory()), status="sleeping")
    assert "no_new_work" in str(refused.value.fields["status"])
