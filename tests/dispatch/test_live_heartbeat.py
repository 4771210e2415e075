"""Each web process marks the sockets it holds alive in one statement; pings cost no write."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import presence
from agents.models import AgentConnection
from tests.dispatch.test_live_dispatch import online_sockets, wait_until
from tests.factories import AgentFactory


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_web_process_keeps_marking_its_open_sockets_alive_and_stops_when_they_close(live_stack):
    agents = [AgentFactory(languages=["en"]) for _ in range(3)]
    sockets = online_sockets(live_stack, agents)
    for socket in sockets:
        socket.send(type="presence", status="online")
    long_ago = timezone.now() - timedelta(minutes=5)
    AgentConnection.objects.update(last_seen_at=long_ago)

    # Marked again within a couple of heartbeats (1 s in the test stack), all three in one go.
    wait_until(lambda: not AgentConnection.objects.filter(last_seen_at__lt=long_ago + timedelta(minutes=1)).exists())
    assert AgentConnection.objects.count() == 3

    sockets[0].close()
    wait_until(lambda: AgentConnection.objects.count() == 2)
    for socket in sockets[1:]:
        socket.send(type="ping")
        socket.expect("pong")
        socket.close()


@pytest.mark.django_db
def test_one_statement_marks_every_socket_of_a_process_and_no_other():
    def socket(name):
        return AgentConnection.objects.create(agent=AgentFactory(), channel_name=name, last_seen_at=timezone.now())

    mine = [socket(f"mine-{n}") for n in range(3)]
    other = socket("another-process")
    long_ago = timezone.now() - timedelta(minutes=5)
    AgentConnection.objects.update(last_seen_at=long_ago)

    with CaptureQueriesContext(connection) as queries:
        assert presence.presence_heartbeat(channel_names=[c.channel_name for c in mine]) == 3

    assert len(queries.captured_queries) == 1
    assert all(c.last_seen_at > long_ago for c in AgentConnection.objects.filter(pk__in=[c.pk for c in mine]))
    other.refresh_from_db()
    assert other.last_seen_at == long_ago
