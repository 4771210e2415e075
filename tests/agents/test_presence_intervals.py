"""Online intervals: opened and closed by presence changes, never by the socket hot path, and repaired
by the presence sweep when a process died or presence was written around presence_set."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import presence
from agents.models import Agent, AgentConnection, PresenceInterval
from tests.factories import AgentFactory, online

pytestmark = pytest.mark.django_db


def intervals(agent) -> list[tuple]:
    rows = PresenceInterval.objects.filter(agent=agent).order_by("started_at")
    return list(rows.values_list("started_at", "ended_at"))


def test_going_online_opens_an_interval_and_leaving_online_closes_it():
    agent = AgentFactory()
    presence.presence_set(agent=agent, status="online")
    [(started_at, ended_at)] = intervals(agent)
    assert ended_at is None
    agent.refresh_from_db()
    assert started_at == agent.presence_changed_at

    presence.presence_set(agent=agent, status="away")
    agent.refresh_from_db()
    assert intervals(agent) == [(started_at, agent.presence_changed_at)]

    presence.presence_set(agent=agent, status="offline")  # away -> offline: nothing was open
    presence.presence_set(agent=agent, status="online")
    presence.presence_set(agent=agent, status="online")  # unchanged: no second interval
    rows = intervals(agent)
    assert len(rows) == 2
    assert rows[1][0] > rows[0][1]
    assert rows[1][1] is None


def test_the_closed_interval_and_the_online_counter_agree():
    agent = AgentFactory()
    presence.presence_set(agent=agent, status="online")
    earlier = timezone.now() - timedelta(seconds=300)
    Agent.objects.filter(pk=agent.pk).update(presence_changed_at=earlier)
    PresenceInterval.objects.filter(agent=agent).update(started_at=earlier)
    presence.presence_set(agent=agent, status="offline")
    agent.refresh_from_db()
    [(started_at, ended_at)] = intervals(agent)
    assert agent.online_seconds == int((ended_at - started_at).total_seconds())


def test_sockets_connecting_pinging_and_closing_never_touch_intervals():
    agent = AgentFactory()
    presence.presence_set(agent=agent, status="online")
    before = intervals(agent)
    with CaptureQueriesContext(connection) as queries:
        presence.presence_connect(agent_id=agent.pk, channel_name="tab-1")
        AgentConnection.objects.filter(channel_name="tab-1").update(last_seen_at=timezone.now() - timedelta(minutes=1))
        presence.presence_heartbeat(channel_names=["tab-1"])
        presence.presence_disconnect(agent_id=agent.pk, channel_name="tab-1")
    assert not [q["sql"] for q in queries.captured_queries if PresenceInterval._meta.db_table in q["sql"]]
    assert intervals(agent) == before


def test_the_sweep_ends_the_interval_of_a_dead_process_when_its_last_socket_was_closed():
    agent = AgentFactory()
    presence.presence_connect(agent_id=agent.pk, channel_name="tab-of-a-dead-process")
    presence.presence_set(agent=agent, status="online")
    went_online_at = timezone.now() - timedelta(minutes=10)
    Agent.objects.filter(pk=agent.pk).update(presence_changed_at=went_online_at)
    PresenceInterval.objects.filter(agent=agent).update(started_at=went_online_at)
    AgentConnection.objects.update(last_seen_at=timezone.now() - timedelta(minutes=5))

    presence.presence_sweep(grace_seconds=30)  # the dead socket is closed; the grace period starts
    agent.refresh_from_db()
    assert (agent.open_sockets, agent.presence) == (0, "online")
    assert intervals(agent)[0][1] is None

    lost_at = timezone.now() - timedelta(seconds=40)
    Agent.objects.filter(pk=agent.pk).update(disconnected_at=lost_at)
    assert presence.presence_sweep(grace_seconds=30) == 1
    agent.refresh_from_db()
    assert agent.presence == "offline"
    # Not the sweep's time: nobody could reach the agent after the last socket closed.
    assert intervals(agent) == [(went_online_at, lost_at)]
    assert agent.online_seconds == int((lost_at - went_online_at).total_seconds())


def test_the_sweep_repairs_intervals_where_presence_was_written_around_presence_set():
    gone = AgentFactory()
    presence.presence_set(agent=gone, status="online")
    PresenceInterval.objects.filter(agent=gone).update(started_at=timezone.now() - timedelta(minutes=10))
    left_at = timezone.now() - timedelta(minutes=2)
    # Presence rewritten directly (an admin, a migration): the open interval no longer matches.
    Agent.objects.filter(pk=gone.pk).update(presence="offline", presence_changed_at=left_at)
    came = online(AgentFactory())  # online without any interval

    presence.presence_sweep(grace_seconds=30)

    [(_, ended_at)] = intervals(gone)
    assert ended_at == left_at
    [(started_at, ended_at)] = intervals(came)
    assert (started_at, ended_at) == (came.presence_changed_at, None)
    presence.presence_sweep(grace_seconds=30)  # repaired once, then stable
    assert len(intervals(came)) == 1


def test_going_online_over_a_stale_open_interval_closes_it_first():
    agent = AgentFactory()
    stale_start = timezone.now() - timedelta(hours=1)
    PresenceInterval.objects.create(agent=agent, started_at=stale_start)  # presence says offline
    presence.presence_set(agent=agent, status="online")
    rows = intervals(agent)
    assert len(rows) == 2
    assert rows[0][0] == stale_start and rows[0][1] == rows[1][0]
    assert rows[1][1] is None


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_presence_frames_over_a_real_socket_write_intervals(live_stack):
    from tests.wsclient import AgentSocket

    agent = AgentFactory()
    socket = AgentSocket(live_stack.ws_url(), agent, presence="online")
    try:
        wait_until(lambda: PresenceInterval.objects.filter(agent=agent, ended_at__isnull=True).exists())
        socket.send(type="presence", status="away")
        wait_until(lambda: PresenceInterval.objects.filter(agent=agent, ended_at__isnull=False).exists())
        assert not PresenceInterval.objects.filter(agent=agent, ended_at__isnull=True).exists()
        socket.send(type="presence", status="online")
        wait_until(lambda: PresenceInterval.objects.filter(agent=agent).count() == 2)
    finally:
        socket.close()


def wait_until(condition, timeout: float = 30, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
