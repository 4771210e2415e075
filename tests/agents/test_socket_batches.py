"""Agent sockets are recorded in batches (console.consumers.SocketBatches). A connect that arrives while
the previous batch is being written must be written next, not left waiting for some later connect: in
a reconnect storm that straggler is an agent who never gets their state frame (found by make bench: a
few agents of each storm waited the loadsim's full 60 s)."""

import asyncio
import threading

import pytest

from agents.models import Agent
from console.consumers import SocketBatches, _sockets_opened
from tests.factories import AgentFactory


@pytest.mark.django_db(transaction=True)
def test_a_connect_arriving_while_a_batch_is_written_is_written_next():
    first, second = AgentFactory(), AgentFactory()
    writing, release = threading.Event(), threading.Event()
    calls = []

    def write(connections):
        calls.append([agent_id for agent_id, _ in connections])
        if len(calls) == 1:
            writing.set()
            release.wait(timeout=10)  # the first batch is still being written ...
        return _sockets_opened(connections)

    batches = SocketBatches(write)

    async def storm():
        opening_first = asyncio.ensure_future(batches.submit(first.pk, "channel-first"))
        await asyncio.to_thread(writing.wait, 10)
        opening_second = asyncio.ensure_future(batches.submit(second.pk, "channel-second"))  # ... when this one comes
        await asyncio.sleep(0.05)
        release.set()
        # Nothing else connects: the straggler must still be written. A hang fails the test (no timing).
        return await asyncio.wait_for(asyncio.gather(opening_first, opening_second), timeout=30)

    first_frames, second_frames = asyncio.run(storm())

    assert calls == [[first.pk], [second.pk]]
    assert first_frames[0]["type"] == second_frames[0]["type"] == "state"
    assert Agent.objects.get(pk=second.pk).open_sockets == 1


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_tab_closed_while_its_socket_is_being_set_up_leaves_no_connection_behind(live_stack):
    """The console opens a socket and the agent navigates away at once (sign-in lands on the console,
    then they click Earnings): the server's first frames meet a closed connection. Its connection row
    must still go, or the agent counts as connected until the sweep (found by a browser test)."""
    from websockets.sync.client import connect

    from agents.models import AgentConnection
    from agents.services import person_token_issue
    from tests.dispatch.test_live_dispatch import wait_until

    agent = AgentFactory()
    token = person_token_issue(user=agent.user)
    for _ in range(10):
        socket = connect(live_stack.ws_url(0), additional_headers={"Authorization": f"Bearer {token}"})
        socket.close()  # before the server has sent its state frame

    wait_until(lambda: not AgentConnection.objects.filter(agent=agent).exists(), timeout=20)
    wait_until(lambda: Agent.objects.get(pk=agent.pk).open_sockets == 0, timeout=5)
