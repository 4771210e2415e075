"""Presence: tabs, grace period after a lost connection, and requeueing the work of agents gone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import presence
from agents.models import Agent, AgentConnection
from dispatch import services
from dispatch.models import SupervisorAlert
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory
from tickets.models import Ticket, TicketStatus

pytestmark = pytest.mark.django_db


def connect(agent, channel):
    return presence.presence_connect(agent_id=agent.pk, channel_name=channel)


def test_several_tabs_are_one_agent_who_stays_reachable_until_the_last_tab_closes(policy):
    agent = AgentFactory()
    connect(agent, "tab-1")
    connect(agent, "tab-2")
    presence.presence_set(agent=agent, status="online")
    presence.presence_disconnect(agent_id=agent.pk, channel_name="tab-1")
    agent.refresh_from_db()
    assert (agent.open_sockets, agent.disconnected_at) == (1, None)
    presence.presence_disconnect(agent_id=agent.pk, channel_name="tab-2")
    agent.refresh_from_db()
    assert agent.open_sockets == 0
    assert agent.disconnected_at is not None
    assert agent.presence == "online"  # not yet: the grace period runs


def test_a_lost_connection_turns_offline_only_after_the_grace_period(policy):
    agent = AgentFactory()
    connect(agent, "tab")
    presence.presence_set(agent=agent, status="online")
    presence.presence_disconnect(agent_id=agent.pk, channel_name="tab")
    assert presence.presence_sweep(grace_seconds=30) == 0
    Agent.objects.filter(pk=agent.pk).update(disconnected_at=timezone.now() - timedelta(seconds=31))
    assert presence.presence_sweep(grace_seconds=30) == 1
    agent.refresh_from_db()
    assert agent.presence == "offline"
    assert agent.presence_reason == "Your connection was lost."


def test_a_reconnect_within_the_grace_period_keeps_the_agent_online(policy):
    agent = AgentFactory()
    connect(agent, "tab")
    presence.presence_set(agent=agent, status="online")
    presence.presence_disconnect(agent_id=agent.pk, channel_name="tab")
    connect(agent, "tab-again")
    Agent.objects.filter(pk=agent.pk).update(presence_changed_at=timezone.now() - timedelta(minutes=5))
    assert presence.presence_sweep(grace_seconds=0) == 0
    agent.refresh_from_db()
    assert agent.presence == "online"


def test_sockets_of_a_dead_process_are_closed_by_the_sweep(policy):
    agent = AgentFactory()
    connect(agent, "tab-of-a-dead-process")
    AgentConnection.objects.update(last_seen_at=timezone.now() - timedelta(minutes=5))
    presence.presence_sweep(grace_seconds=30)
    agent.refresh_from_db()
    assert agent.open_sockets == 0


def test_online_time_is_counted_when_leaving_online(policy):
    agent = AgentFactory()
    presence.presence_set(agent=agent, status="online")
    Agent.objects.filter(pk=agent.pk).update(presence_changed_at=timezone.now() - timedelta(seconds=120))
    agent.refresh_from_db()
    presence.presence_set(agent=agent, status="away")
    agent.refresh_from_db()
    assert 119 <= agent.online_seconds <= 125


def test_tickets_of_an_agent_gone_too_long_are_requeued_keeping_their_place(policy):
    policy = set_policy(requeue_after_seconds=60)
    agent = AgentFactory(languages=["en"])
    connect(agent, "tab")
    presence.presence_set(agent=agent, status="online")
    ticket = TicketFactory(language="en")
    original_place = ticket.queued_at
    [offer] = services.ticket_dispatch(ticket_id=ticket.pk)
    services.offer_accept(offer_id=offer.pk, agent=agent)
    presence.presence_disconnect(agent_id=agent.pk, channel_name="tab")

    assert services.tickets_requeue_for_absent_agents(policy=policy) == 0
    Agent.objects.filter(pk=agent.pk).update(disconnected_at=timezone.now() - timedelta(seconds=61))
    assert services.tickets_requeue_for_absent_agents(policy=policy) == 1

    ticket = Ticket.objects.get(pk=ticket.pk)
    agent.refresh_from_db()
    assert ticket.status == TicketStatus.QUEUED
    assert ticket.assigned_agent is None
    assert ticket.queued_at == original_place
    assert ticket.requeue_count == 1
    assert agent.active_tickets == 0
    assert SupervisorAlert.objects.filter(ticket=ticket, kind="requeued_agent_gone").exists()
    newer = TicketFactory(language="en")
    assert list(Ticket.objects.filter(status="queued").order_by("-priority", "queued_at")) == [ticket, newer]


def test_presence_refuses_an_unknown_status(policy):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        presence.presence_set(agent=AgentFactory(), status="busy")
