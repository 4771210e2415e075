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
