"""The agent's websocket, /ws/agent/ (CONTRACT.md "Agents: offers and work").

Thin by design: authenticate, join the agent's group, translate frames to service calls and the
results (or DomainErrors) back to frames. On every (re)connect the server sends the current state,
including each pending offer with its remaining time: the client never has to trust that it missed
nothing while it was away.

Client frames beyond the contract's: `{"type": "ack", "offer_id"}` (the offer reached the screen),
`{"type": "sync"}` (send me the current state again) and `{"type": "wrap_up_done", "ticket_id"}`
(ready for the next customer before the wrap-up time is up).
"""

import asyncio
import logging
import uuid

from channels.db import database_sync_to_async

from actions.people import presence_change, sockets_opened
from actions.tickets import assignment_wrap_up_end
from agents import presence
from agents.models import Agent, Role
from core.errors import DomainError
from core.events import agent_group
from core.sockets import FrameConsumer
from dispatch import services
from dispatch.events import offer_frame
from dispatch.models import Offer, OfferStatus
from tickets.models import Assignment, Ticket, TicketStatus
from tickets.selectors import tickets_with_offer_payload

log = logging.getLogger(__name__)


@database_sync_to_async
def _agent_for(user):
    if not user.is_authenticated or user.role != Role.AGENT:
        return None
    try:
        return user.agent  # read with the bearer token already; a session user's costs a query
    except Agent.DoesNotExist:
        return None


def _state_frames_many(agents: dict) -> dict:
    """The current state of each agent (by id), as the frames a (re)connecting socket is sent first.
    What an agent holds and is offered is read only for agents who hold or are offered something (their
    row says so), in one query each for all of them: a storm of reconnects costs a few queries."""
    busy = [pk for pk, agent in agents.items() if agent.active_tickets or agent.has_pending_offer]
    open_tickets, wrap_ups, offers = {}, {}, {}
    if busy:
        for agent_id, ticket_id in (
            Ticket.objects.filter(assigned_agent_id__in=busy, status=TicketStatus.ASSIGNED)
            .order_by("assigned_at")
            .values_list("assigned_agent_id", "pk")
        ):
            open_tickets.setdefault(agent_id, []).append(str(ticket_id))
        for agent_id, ticket_id, until in Assignment.objects.filter(
            agent_id__in=busy, released_at__isnull=True, ended_at__isnull=False
        ).values_list("agent_id", "ticket_id", "wrap_up_until"):
            wrap_ups.setdefault(agent_id, []).append({"ticket_id": str(ticket_id), "until": until.isoformat()})
        pending = (
            Offer.objects.filter(agent_id__in=busy, status=OfferStatus.PENDING)
            .select_related("ticket", "agent")
            .order_by("created_at")
        )
        tickets_with_offer_payload({offer.ticket for offer in pending})
        for offer in pending:
            offers.setdefault(offer.agent_id, []).append(offer_frame(offer))
    frames = {}
    for pk, agent in agents.items():
        state = {
            "type": "state",
            "status": agent.status,
            "status_reason": agent.status_reason,
            "presence": agent.presence,
            "presence_reason": agent.presence_reason,
            "break_until": agent.break_until.isoformat() if agent.break_until else None,
            "open_tickets": open_tickets.get(pk, []),
            "wrap_ups": wrap_ups.get(pk, []),
        }
        frames[pk] = [state, *offers.get(pk, [])]
    return frames


def _state_frames(agent_id, agent: Agent | None = None) -> list[dict]:
    """The current state of one agent; `agent` when the caller has just read the row."""
    agent = agent or Agent.objects.get(pk=agent_id)
    return _state_frames_many({agent.pk: agent})[agent.pk]


def _sockets_opened(connections) -> dict:
    """Record a batch of sockets and read their agents' state: one trip to the database thread."""
    agents = sockets_opened(connections=connections)
    return _state_frames_many(agents)


class SocketBatches:
    """Connects and disconnects of this process, written in batches: every event that arrives within
    BATCH_SECONDS of the first (or BATCH_SIZE of them) is one transaction of a few statements. A reconnect
    storm after a deploy (thousands of sockets at once) then costs the database a few hundred statements,
    not tens of thousands; a lone connect waits BATCH_SECONDS more."""

    BATCH_SECONDS = 0.01
    BATCH_SIZE = 200

    def __init__(self, write):
        self.write = write  # sync: list of (agent id, channel name) -> result by agent id
        self.pending: list[tuple] = []
        self.flushing: asyncio.Task | None = None

    async def submit(self, agent_id, channel_name: str):
        future = asyncio.get_running_loop().create_future()
        self.pending.append((agent_id, channel_name, future))
        loop = asyncio.get_running_loop()
        if len(self.pending) >= self.BATCH_SIZE:
            await self._flush()
        elif self.flushing is None or self.flushing.done() or self.flushing.get_loop() is not loop:
            self.flushing = loop.create_task(self._flush_soon())
        return await future

    async def _flush_soon(self):
        await asyncio.sleep(self.BATCH_SECONDS)
        # Events that arrive while a batch is being written wait for this task (submit starts no other
        # while it runs): it writes them next, so none is left behind until some later event.
        while self.pending:
            await self._flush()

    async def _flush(self):
        batch, self.pending = self.pending, []
        if not batch:
            return
        try:
            results = await database_sync_to_async(self.write)([(agent_id, channel) for agent_id, channel, _ in batch])
        except Exception as exc:  # every socket of the batch gets the error
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for agent_id, _, future in batch:
            if not future.done():
                future.set_result(results.get(agent_id) if results else None)


class SocketsAlive:
    """The agent sockets this process holds, marked alive in one UPDATE every HEARTBEAT_WRITE_SECONDS.

    Pings are answered without touching the database: at 5,000 sockets a write per ping would be
    hundreds of writes a second. A process that dies stops marking its sockets, and the presence sweep
    closes them after STALE_CONNECTION_SECONDS."""

    def __init__(self):
        self.channel_names: set[str] = set()
        self._task: asyncio.Task | None = None

    def add(self, channel_name: str) -> None:
        self.channel_names.add(channel_name)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._mark_alive_while_any())

    def discard(self, channel_name: str) -> None:
        self.channel_names.discard(channel_name)

    async def _mark_alive_while_any(self):
        while self.channel_names:
            await asyncio.sleep(presence.HEARTBEAT_WRITE_SECONDS)
            try:
                await database_sync_to_async(presence.presence_heartbeat)(channel_names=set(self.channel_names))
            except Exception:  # a database blip: the next round marks them again, well before they go stale
                log.exception("Could not mark %d agent sockets alive", len(self.channel_names))


sockets_alive = SocketsAlive()
socket_opens = SocketBatches(_sockets_opened)
socket_closes = SocketBatches(lambda connections: presence.presence_disconnect_many(connections=connections))


class AgentConsumer(FrameConsumer):
    socket_kind = "agent"
    agent_id = None

    async def connect(self):
        agent = await _agent_for(self.scope["user"])
        if agent is None:
            await self.close(code=4401)
            return
        self.agent_id = agent.pk
        self.agent = agent
        await self.channel_layer.group_add(agent_group(agent.pk), self.channel_name)
        await self.accept()
        frames = await socket_opens.submit(agent.pk, self.channel_name)
        sockets_alive.add(self.channel_name)
        for frame in frames:
            await self.send_frame(frame)

    async def disconnect(self, code):
        if self.agent_id is None:
            return
        sockets_alive.discard(self.channel_name)
        await self.channel_layer.group_discard(agent_group(self.agent_id), self.channel_name)
        await socket_closes.submit(self.agent_id, self.channel_name)

    async def send_state(self, agent: Agent | None = None):
        for frame in await database_sync_to_async(_state_frames)(self.agent_id, agent):
            await self.send_frame(frame)

    def error_context(self, frame):
        return {"offer_id": frame["offer_id"]} if frame and "offer_id" in frame else {}

    def log_ids(self) -> dict:
        return {"agent_id": self.agent_id}

    def _offer_id(self, frame) -> str:
        offer_id = frame.get("offer_id")
        if not isinstance(offer_id, str) or not offer_id:
            raise DomainError("malformed", 'This frame needs an "offer_id".')
        try:
            return str(uuid.UUID(offer_id))
        except ValueError as exc:
            raise DomainError("offer_unavailable", "No such offer for you.") from exc

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong"})

    async def on_sync(self, frame):
        await self.send_state()

    async def on_presence(self, frame):
        agent = await database_sync_to_async(Agent.objects.get)(pk=self.agent_id)
        await database_sync_to_async(presence_change)(
            agent=agent,
            status=frame.get("status"),
            reason=frame.get("reason") or "",
            break_minutes=frame.get("minutes"),
        )

    async def on_ack(self, frame):
        await database_sync_to_async(services.offer_mark_delivered)(offer_id=self._offer_id(frame), agent=self.agent)

    async def on_accept(self, frame):
        # The "assigned" answer is pushed to every tab of the agent after commit.
        await self._answer_offer(services.offer_accept, offer_id=self._offer_id(frame))

    async def on_decline(self, frame):
        reason = frame.get("reason") or ""
        if not isinstance(reason, str):
            raise DomainError("malformed", "A decline reason must be text.")
        await self._answer_offer(services.offer_decline, offer_id=self._offer_id(frame), reason=reason)

    async def on_wrap_up_done(self, frame):
        """The agent is ready before the wrap-up time is up: free the slot now."""
        ticket_id = frame.get("ticket_id")
        try:
            ticket_id = str(uuid.UUID(ticket_id)) if isinstance(ticket_id, str) else None
        except ValueError:
            ticket_id = None
        if ticket_id is None:
            raise DomainError("malformed", 'This frame needs a "ticket_id".')
        if await database_sync_to_async(assignment_wrap_up_end)(ticket_id=ticket_id, agent=self.agent) is None:
            raise DomainError("not_in_wrap_up", "This ticket is not in wrap-up with you.")

    @database_sync_to_async
    def _answer_offer(self, answer, **arguments):
        try:
            answer(agent=self.agent, **arguments)
        except DomainError as exc:
            # Over the socket, any offer that is not (or no longer) yours is simply unavailable.
            if exc.code == "not_found":
                raise services.OfferUnavailable("No such offer for you.") from exc
            raise

    async def connection_close(self, event):
        # The account was closed (actions.people.agent_pseudonymise): no socket may outlive it, and the
        # handshake of a reconnect is refused because the user is inactive.
        await self.close(code=4401)
