"""Synthetic agents: each one a websocket like a browser tab (CONTRACT.md "Agents: offers and work").

An agent connects with its bearer token, goes online, and waits for the server to confirm it (the
state frame answering a `sync` sent after the `presence` frame: a consumer handles one connection's
frames in order). It acknowledges every offer, then declines some, ignores some (they expire) and
accepts the rest after a think time; after a handle time it resolves the ticket over REST and, after a
moment of wrap-up, says it is ready for the next customer. It pings
every 20 s like the console does, because the presence sweep closes sockets that stay silent.
"""

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field

import httpx
import websockets

from tools.loadsim.stats import SimStats


@dataclass(frozen=True)
class AgentBehaviour:
    think_seconds: tuple[float, float] = (1.0, 5.0)
    handle_seconds: tuple[float, float] = (10.0, 30.0)
    # After a resolve: notes, then "ready for the next customer" (the policy's wrap-up ends it otherwise).
    wrap_up_seconds: tuple[float, float] = (0.0, 1.0)
    decline_share: float = 0.05
    ignore_share: float = 0.02
    ping_every_seconds: float = 20.0
    # The platform sets an agent who lets offers expire in a row to away; a person comes back.
    back_online_after_seconds: float = 5.0
    # Of the resolved tickets, the share the agent marks "the bot could have solved it" (bot feedback).
    avoidable_share: float = 0.3


FEEDBACK_COMMENTS = [
    "The order status was in the tracking tool; the bot could have read it out.",
    "Refund policy question: the knowledge base answers it.",
    "The customer only needed the password reset link.",
]


@dataclass
class ConnectReport:
    connected: int = 0
    failed: int = 0
    skipped: int = 0  # not tried: the deadline had passed
    skipped_tokens: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


class SimAgent:
    def __init__(self, *, pool: "AgentPool", token: str, server_index: int, rng: random.Random):
        self.pool = pool
        self.token = token
        self.server_index = server_index
        self.rng = rng
        self.ws = None
        self.closed = False
        # Resolved once the server confirms the agent online; fails if the socket closes before that.
        self.online: asyncio.Future = asyncio.get_running_loop().create_future()
        self.presence_attempts = 0
        self.state_frames = 0
        self.accept_sent_at: dict[str, float] = {}  # offer_id -> perf_counter
        self.handling: dict[str, asyncio.Task] = {}  # ticket_id -> the task resolving it
        self.resolving: set[str] = set()  # its resolve request is on the way
        self.wrapping: dict[str, asyncio.Task] = {}  # ticket_id -> the task ending its wrap-up
        self.resolved_here: set[str] = set()
        self.tasks: set[asyncio.Task] = set()

    @property
    def stats(self) -> SimStats:
        return self.pool.stats

    def spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def send(self, **frame) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(json.dumps(frame))

    async def connect(self) -> None:
        self.ws = await websockets.connect(
            self.pool.ws_urls[self.server_index],
            additional_headers={"Authorization": f"Bearer {self.token}"},
            open_timeout=120,
            # The server pings (uvicorn's keepalive) and the agent pings at the application level;
            # compression costs the load generator memory and CPU for thousands of sockets.
            ping_interval=None,
            compression=None,
            max_queue=None,
        )
        self.spawn(self.read_frames())
        # Like the console: the server sends the agent's state first; only an agent who is not online
        # yet says so (a reconnect after a dropped socket finds the agent still online).

    async def go_online(self) -> None:
        self.presence_attempts += 1
        await self.send(type="presence", status="online")
        await self.send(type="sync")

    async def read_frames(self) -> None:
        self.spawn(self.ping_regularly())
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                handler = getattr(self, f"on_{frame.get('type')}", None)
                if handler is not None:
                    handler(frame)
        except websockets.ConnectionClosed:
            pass  # the socket closed: the run ends it or the agent reconnects; either way reading stops here
        except Exception as exc:
            # A bug in a handler must not leave the agent silently deaf.
            if not self.online.done():
                self.online.set_exception(exc)
            raise
        finally:
            if not self.online.done() and not self.closed:
                self.online.set_exception(
                    ConnectionError(f"closed before online: code {self.ws.close_code} {self.ws.close_reason!r}")
                )
        if not self.closed and not self.pool.closing:
            self.pool.dropped += 1

    async def ping_regularly(self) -> None:
        every = self.pool.behaviour.ping_every_seconds
        await asyncio.sleep(self.rng.uniform(0, every))  # thousands of agents do not ping in step
        while True:
            await self.send(type="ping")
            await asyncio.sleep(every)

    def on_state(self, frame: dict) -> None:
        self.state_frames += 1
        # The first state frame is sent on connect; the later ones answer our presence frame's sync.
        if not self.online.done():
            if frame.get("presence") == "online":
                self.online.set_result(True)
            elif self.presence_attempts < 3:
                self.spawn(self.go_online())
            else:
                self.online.set_exception(ConnectionError(f"the server kept the agent {frame.get('presence')}"))
        for ticket_id in frame.get("open_tickets", []):
            # Left from an earlier run (or from before a reconnect): finish it like any other.
            if ticket_id not in self.handling:
                self.handling[ticket_id] = self.spawn(self.handle(ticket_id))

    def on_offer(self, frame: dict) -> None:
        self.stats.offer_received(external_id=frame["ticket"]["external_id"], server_index=self.server_index)
        self.spawn(self.answer(frame["offer_id"]))

    async def answer(self, offer_id: str) -> None:
        behaviour = self.pool.behaviour
        await self.send(type="ack", offer_id=offer_id)
        draw = self.rng.random()
        if draw < behaviour.decline_share:
            self.stats.declined += 1
            await self.send(type="decline", offer_id=offer_id, reason="simulated: busy")
        elif draw < behaviour.decline_share + behaviour.ignore_share:
            self.stats.ignored += 1
        else:
            await asyncio.sleep(self.rng.uniform(*behaviour.think_seconds))
            self.accept_sent_at[offer_id] = time.perf_counter()
            await self.send(type="accept", offer_id=offer_id)

    def on_assigned(self, frame: dict) -> None:
        sent_at = self.accept_sent_at.pop(frame["offer_id"], None)
        if sent_at is not None:
            self.stats.accept_latency.append(time.perf_counter() - sent_at)
        ticket_id = frame["ticket_id"]
        self.stats.assigned.add(ticket_id)
        self.pool.assigned_ticket_ids.add(ticket_id)
        if ticket_id not in self.handling:
            self.handling[ticket_id] = self.spawn(self.handle(ticket_id))

    def on_offer_withdrawn(self, frame: dict) -> None:
        self.stats.withdrawn[frame.get("reason", "")] += 1
        self.accept_sent_at.pop(frame.get("offer_id"), None)

    def on_error(self, frame: dict) -> None:
        self.stats.errors[frame.get("code", "")] += 1
        self.accept_sent_at.pop(frame.get("offer_id"), None)

    def on_ticket_cancelled(self, frame: dict) -> None:
        task = self.handling.pop(frame.get("ticket_id"), None)
        if task is not None:
            task.cancel()

    def on_wrap_up(self, frame: dict) -> None:
        self.wrapping[frame["ticket_id"]] = self.spawn(self.wrap_up(frame["ticket_id"]))

    def on_wrap_up_ended(self, frame: dict) -> None:
        self.wrapping.pop(frame.get("ticket_id"), None)

    async def wrap_up(self, ticket_id: str) -> None:
        await asyncio.sleep(self.rng.uniform(*self.pool.behaviour.wrap_up_seconds))
        await self.send(type="wrap_up_done", ticket_id=ticket_id)

    async def end_wrap_up(self, ticket_id: str) -> None:
        """Ready now, over REST (the end of the shift does not wait for frames): 409 if it ended already."""
        with contextlib.suppress(httpx.HTTPError):
            await self.pool.http[self.server_index].post(
                f"/api/v1/tickets/{ticket_id}/wrap-up-done/", headers={"Authorization": f"Bearer {self.token}"}
            )

    def on_agent_status(self, frame: dict) -> None:
        if frame.get("status") == "active" and frame.get("presence") != "online" and not self.pool.closing:
            self.spawn(self.come_back())

    async def come_back(self) -> None:
        await asyncio.sleep(self.pool.behaviour.back_online_after_seconds)
        if not self.pool.closing:
            await self.send(type="presence", status="online")

    async def handle(self, ticket_id: str) -> None:
        await asyncio.sleep(self.rng.uniform(*self.pool.behaviour.handle_seconds))
        self.resolving.add(ticket_id)
        await self.resolve(ticket_id)

    def bot_feedback(self) -> dict:
        avoidable = self.rng.random() < self.pool.behaviour.avoidable_share
        comment = self.rng.choice(FEEDBACK_COMMENTS) if avoidable else ""
        return {"escalation_avoidable": avoidable, "comment": comment}

    async def resolve(self, ticket_id: str) -> None:
        client = self.pool.http[self.server_index]
        try:
            response = await client.post(
                f"/api/v1/tickets/{ticket_id}/resolve/",
                json={
                    "outcome": "solved",
                    "notes": "Simulated agent.",
                    "bot_feedback": self.bot_feedback(),
                },
                headers={"Authorization": f"Bearer {self.token}"},
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        if status == 200:
            self.stats.resolved.add(ticket_id)
            self.resolved_here.add(ticket_id)
        else:
            self.stats.resolve_failures[status] += 1
        self.handling.pop(ticket_id, None)
        self.resolving.discard(ticket_id)

    async def finish_work(self) -> None:
        """End of the shift: resolve every open ticket now instead of after its handle time (a resolve
        already on the way is awaited, not sent twice)."""
        in_flight = [task for ticket_id, task in self.handling.items() if ticket_id in self.resolving]
        still_handling = [ticket_id for ticket_id in self.handling if ticket_id not in self.resolving]
        for ticket_id in still_handling:
            self.handling.pop(ticket_id).cancel()
        await asyncio.gather(*in_flight, *(self.resolve(ticket_id) for ticket_id in still_handling))
        # Every ticket resolved now or lately: ready at once, so no slot is left taken.
        for task in self.wrapping.values():
            task.cancel()
        self.wrapping.clear()
        await asyncio.gather(*(self.end_wrap_up(ticket_id) for ticket_id in self.resolved_here))

    async def close(self) -> None:
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):  # closing is best effort; the server sees the drop
                await asyncio.wait_for(self.ws.close(), 10)


class AgentPool:
    """The synthetic agents of a run, spread over one or more ASGI servers.

    `stats` may be replaced between benchmark windows; the agents count into the current one.
    """

    def __init__(
        self,
        *,
        api_urls: list[str],
        behaviour: AgentBehaviour,
        stats: SimStats,
        seed: int = 1,
        connect_concurrency: int = 100,
    ):
        self.api_urls = api_urls
        self.ws_urls = [
            url.replace("http://", "ws://").replace("https://", "wss://") + "/ws/agent/" for url in api_urls
        ]
        self.behaviour = behaviour
        self.stats = stats
        self.seed = seed
        self.agents: list[SimAgent] = []
        self.assigned_ticket_ids: set[str] = set()
        self.dropped = 0
        self.closing = False
        self.handshakes = asyncio.Semaphore(connect_concurrency)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        self.http = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for url in api_urls]

    def on_server(self, server_index: int) -> list[SimAgent]:
        return [agent for agent in self.agents if agent.server_index == server_index]

    async def connect(
        self,
        tokens: list[str],
        *,
        server_index: int | None = None,
        online_timeout: float = 60,
        deadline: float | None = None,
    ) -> ConnectReport:
        """Connect one agent per token (to `server_index`, or spread evenly over the servers) and
        return once each is online as far as the server is concerned, or has failed. Agents whose
        turn comes after `deadline` (a time.perf_counter value) are not connected: `skipped`."""
        report = ConnectReport()
        started = time.perf_counter()
        new_agents = []
        per_server = [len(self.on_server(index)) for index in range(len(self.api_urls))]
        for position, token in enumerate(tokens):
            # Spread: each new agent goes to the server holding the fewest.
            index = server_index if server_index is not None else per_server.index(min(per_server))
            per_server[index] += 1
            rng = random.Random(f"{self.seed}-{len(self.agents) + position}")
            new_agents.append(SimAgent(pool=self, token=token, server_index=index, rng=rng))

        async def bring_online(agent: SimAgent) -> None:
            try:
                async with self.handshakes:
                    if deadline is not None and time.perf_counter() > deadline:
                        report.skipped += 1
                        report.skipped_tokens.append(agent.token)
                        return
                    await agent.connect()
                    await asyncio.wait_for(asyncio.shield(agent.online), online_timeout)
                report.connected += 1
                self.agents.append(agent)
            except Exception as exc:  # noqa: BLE001 - counted and reported; the run goes on with the rest
                report.failed += 1
                if len(report.failures) < 5:
                    report.failures.append(f"{type(exc).__name__}: {exc}")
                await agent.close()

        await asyncio.gather(*(bring_online(agent) for agent in new_agents))
        report.seconds = time.perf_counter() - started
        return report

    async def finish_work(self) -> None:
        await asyncio.gather(*(agent.finish_work() for agent in self.agents))

    async def close(self, agents: list[SimAgent] | None = None) -> None:
        closing = self.agents if agents is None else agents
        if agents is None:
            self.closing = True
        await asyncio.gather(*(agent.close() for agent in closing))
        closed = {id(agent) for agent in closing}
        self.agents = [agent for agent in self.agents if id(agent) not in closed]
        if agents is None:
            for client in self.http:
                await client.aclose()
