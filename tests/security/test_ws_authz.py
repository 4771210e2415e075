"""The websocket authorization matrix, generated from the websocket routes and the consumers' frame handlers.

Routes come from config.routing; the client frame types a consumer accepts are its `on_<type>` methods
(its dispatch table: `receive` calls `on_<frame type>`). Every route x caller has a handshake outcome,
and every frame type x admitted caller has an expected outcome below. A new route, a new frame type or
a new caller without an entry here fails test_the_matrix_covers_every_route_and_frame_type.

Everything else runs against the real ASGI server (uvicorn), the real Celery worker and Redis.
"""

import json
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from agents.models import Agent, AgentConnection
from agents.services import agent_suspend, person_token_issue
from dispatch import services as dispatch_services
from dispatch.models import Offer, OfferStatus
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory, UserFactory, integration_with_token
from tickets.models import Assignment, Ticket, TicketStatus

ALLOWED, REFUSED = "allowed", "refused"
CALLERS = (
    "anonymous",
    "agent",
    "another_agent",
    "suspended_agent",
    "deactivated_agent",
    "supervisor",
    "finance",
    "integration",
)

# Who may open which socket. The first frame of an admitted socket says where things stand.
HANDSHAKE = {
    "ws/agent/": {
        "anonymous": REFUSED,
        "agent": ALLOWED,
        "another_agent": ALLOWED,
        # Contract: a suspended agent still signs in and sees the reason; they are offered no work.
        "suspended_agent": ALLOWED,
        # An account switched off (e.g. pseudonymised) is refused even with a token issued before.
        "deactivated_agent": REFUSED,
        "supervisor": REFUSED,
        "finance": REFUSED,
        "integration": REFUSED,
    },
    "ws/supervisor/": {
        "anonymous": REFUSED,
        "agent": REFUSED,
        "another_agent": REFUSED,
        "suspended_agent": REFUSED,
        "deactivated_agent": REFUSED,
        "supervisor": ALLOWED,
        "finance": REFUSED,
        "integration": REFUSED,
    },
}
FIRST_FRAME = {"ws/agent/": "state", "ws/supervisor/": "board"}

# What each admitted caller's frame does. Frames that name an offer name the caller's own pending offer,
# except for "another_agent", who names a pending offer of `agent`'s: that must be refused and change nothing.
FRAMES = {
    "ws/agent/": {
        "ping": {"agent": "pong", "another_agent": "pong", "suspended_agent": "pong"},
        "sync": {"agent": "state", "another_agent": "state", "suspended_agent": "state"},
        "presence": {"agent": "presence_set", "another_agent": "presence_set", "suspended_agent": "presence_set"},
        "ack": {"agent": "offer_delivered", "another_agent": "offer_unavailable", "suspended_agent": "offer_delivered"},
        "accept": {"agent": "assigned", "another_agent": "offer_unavailable", "suspended_agent": "refused_unchanged"},
        "decline": {"agent": "declined", "another_agent": "offer_unavailable", "suspended_agent": "declined"},
        "wrap_up_done": {
            "agent": "wrap_up_ended",
            "another_agent": "not_in_wrap_up",
            "suspended_agent": "wrap_up_ended",
        },
    },
    "ws/supervisor/": {
        "ping": {"supervisor": "pong"},
        "sync": {"supervisor": "board"},
    },
}


def websocket_routes() -> dict[str, type]:
    from config.routing import websocket_urlpatterns

    return {str(pattern.pattern): pattern.callback.consumer_class for pattern in websocket_urlpatterns}


def frame_types(consumer_class) -> set[str]:
    return {name.removeprefix("on_") for name in dir(consumer_class) if name.startswith("on_")}


def test_the_matrix_covers_every_route_and_frame_type():
    routes = websocket_routes()
    assert set(routes) == set(HANDSHAKE) == set(FRAMES), "a websocket route without a matrix entry"
    for route, consumer_class in routes.items():
        assert set(HANDSHAKE[route]) == set(CALLERS), f"{route}: say what every caller gets at the handshake"
        handled = frame_types(consumer_class)
        assert handled, f"{consumer_class.__name__} handles no frame types (on_<type> methods)?"
        assert handled == set(FRAMES[route]), (
            f"{route}: frame types without a matrix entry: {handled ^ set(FRAMES[route])}"
        )
        admitted = {caller for caller, outcome in HANDSHAKE[route].items() if outcome == ALLOWED}
        for frame_type, outcomes in FRAMES[route].items():
            assert set(outcomes) == admitted, f"{route} {frame_type!r}: one outcome per admitted caller"


# ---------------------------------------------------------------- live


def wait_until(condition, timeout: float = 15, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@dataclass
class Caller:
    token: str | None
    agent: Agent | None = None


def make_caller(name: str) -> Caller:
    if name == "anonymous":
        return Caller(token=None)
    if name in ("supervisor", "finance"):
        return Caller(token=person_token_issue(user=UserFactory(role=name)))
    if name == "integration":
        return Caller(token=integration_with_token()[1])
    agent = AgentFactory(languages=["sv"], skills={"payments": 3})
    token = person_token_issue(user=agent.user)
    if name == "suspended_agent":
        agent_suspend(agent=agent, actor=UserFactory(role="supervisor"), reason="Under review")
    if name == "deactivated_agent":
        agent.user.is_active = False
        agent.user.save()
    return Caller(token=token, agent=agent)


class Socket:
    def __init__(self, url: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ws = connect(url, additional_headers=headers, open_timeout=15)

    def send(self, **frame):
        self.ws.send(json.dumps(frame))

    def next_of(self, *types: str, timeout: float = 15) -> dict:
        """The next frame of one of `types`, skipping pushes of other kinds (board refreshes, offers)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = json.loads(self.ws.recv(timeout=left))
            if frame.get("type") in types:
                return frame
        raise AssertionError(f"no {types} frame within {timeout}s")

    def close(self):
        self.ws.close()


HANDSHAKE_CASES = [(route, caller) for route in HANDSHAKE for caller in CALLERS]


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route, caller_name", HANDSHAKE_CASES, ids=[f"{r}-{c}" for r, c in HANDSHAKE_CASES])
def test_handshake(live_stack, route, caller_name):
    caller = make_caller(caller_name)
    url = live_stack.ws_url(path="/" + route)
    if HANDSHAKE[route][caller_name] == REFUSED:
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            socket = Socket(url, caller.token)
            socket.next_of(FIRST_FRAME[route], timeout=10)
        assert not AgentConnection.objects.exists(), "a refused socket was counted as the agent's connection"
        return
    socket = Socket(url, caller.token)
    try:
        first = socket.next_of(FIRST_FRAME[route])
        if route == "ws/agent/":
            assert first["status"] == caller.agent.status
    finally:
        socket.close()
    if caller.agent is not None:
        wait_until(lambda: not AgentConnection.objects.filter(agent=caller.agent).exists())


FRAME_CASES = [
    (route, frame_type, caller)
    for route, frames in FRAMES.items()
    for frame_type, outcomes in frames.items()
    for caller in outcomes
]


def pending_offer_to(agent: Agent) -> Offer:
    """A real pending offer to `agent`, made by the dispatcher (the agent must be the only one eligible)."""
    Agent.objects.filter(pk=agent.pk).update(presence="online", open_sockets=1, status="active")
    ticket = TicketFactory(language="sv", skills={"payments": 2})
    # The live stack's dispatcher may decide the new ticket before this call does: either way, one offer.
    dispatch_services.ticket_dispatch(ticket_id=ticket.pk)
    offer = wait_until(lambda: Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).first())
    assert offer.agent_id == agent.pk
    return offer


def offer_snapshot(offer: Offer) -> tuple:
    offer = Offer.objects.get(pk=offer.pk)
    ticket = Ticket.objects.get(pk=offer.ticket_id)
    return offer.status, offer.delivered_at, offer.answered_at, ticket.status, ticket.assigned_agent_id


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route, frame_type, caller_name", FRAME_CASES, ids=[f"{r}-{f}-{c}" for r, f, c in FRAME_CASES])
def test_frame(live_stack, route, frame_type, caller_name):
    # Long offers: an expiry by the live worker must not race the assertions.
    set_policy(offer_timeout_seconds=300)
    expected = FRAMES[route][frame_type][caller_name]
    caller = make_caller(caller_name)
    offer = None
    if frame_type in ("ack", "accept", "decline"):
        if caller_name == "another_agent":
            owner = make_caller("agent").agent
            # The caller stays offline, so the dispatcher offers the ticket to the owner alone.
            offer = pending_offer_to(owner)
        else:
            offer = pending_offer_to(caller.agent)
        if caller_name == "suspended_agent":
            # Offered before the suspension: the offer is still pending when the agent answers it.
            Agent.objects.filter(pk=caller.agent.pk).update(status=Agent.Status.SUSPENDED)
    before = offer_snapshot(offer) if offer else None
    wrapping = None
    if frame_type == "wrap_up_done":
        wrapping = ticket_in_wrap_up(make_caller("agent").agent if caller_name == "another_agent" else caller.agent)

    socket = Socket(live_stack.ws_url(path="/" + route), caller.token)
    try:
        socket.next_of(FIRST_FRAME[route])
        frame = {"type": frame_type}
        if offer is not None:
            frame["offer_id"] = str(offer.pk)
        if frame_type == "presence":
            frame["status"] = "away"
        if wrapping is not None:
            frame["ticket_id"] = str(wrapping.ticket_id)
        socket.send(**frame)
        check_outcome(expected, socket=socket, caller=caller, offer=offer, before=before, wrapping=wrapping)
    finally:
        socket.close()
    if caller.agent is not None:
        wait_until(lambda: not AgentConnection.objects.filter(agent=caller.agent).exists())


def answered_then_pong(socket: Socket) -> None:
    """Frames are handled in order: a pong after the frame means the frame's handling is over."""
    socket.send(type="ping")
    socket.next_of("pong")


def ticket_in_wrap_up(agent: Agent) -> Assignment:
    """A ticket `agent` resolved a moment ago, still in its wrap-up (their slot taken)."""
    now = timezone.now()
    ticket = TicketFactory(status="resolved", assigned_agent=agent, assigned_at=now, resolved_at=now)
    Assignment.objects.filter(ticket=ticket).update(released_at=None, wrap_up_until=now + timedelta(seconds=300))
    Agent.objects.filter(pk=agent.pk).update(active_tickets=1)
    return Assignment.objects.get(ticket=ticket)


def check_outcome(
    expected: str, *, socket: Socket, caller: Caller, offer: Offer | None, before, wrapping: Assignment | None = None
) -> None:
    if expected == "wrap_up_ended":
        assert socket.next_of("wrap_up_ended")["ticket_id"] == str(wrapping.ticket_id)
        assert Assignment.objects.get(pk=wrapping.pk).released_at is not None
        assert Ticket.objects.get(pk=wrapping.ticket_id).closed_at is not None
        assert Agent.objects.get(pk=wrapping.agent_id).active_tickets == 0
    elif expected == "not_in_wrap_up":
        assert socket.next_of("error")["code"] == "not_in_wrap_up"
        answered_then_pong(socket)
        assert Assignment.objects.get(pk=wrapping.pk).released_at is None
        assert Agent.objects.get(pk=wrapping.agent_id).active_tickets == 1
    elif expected == "pong":
        socket.next_of("pong")
    elif expected in ("state", "board"):
        socket.next_of(expected)
    elif expected == "presence_set":
        frame = socket.next_of("agent_status")
        assert frame["presence"] == "away"
        assert Agent.objects.get(pk=caller.agent.pk).presence == "away"
    elif expected == "offer_delivered":
        answered_then_pong(socket)
        assert Offer.objects.get(pk=offer.pk).delivered_at is not None
    elif expected == "assigned":
        frame = socket.next_of("assigned")
        assert frame["offer_id"] == str(offer.pk)
        ticket = Ticket.objects.get(pk=offer.ticket_id)
        assert ticket.status == TicketStatus.ASSIGNED and ticket.assigned_agent_id == caller.agent.pk
    elif expected == "declined":
        answered_then_pong(socket)
        assert Offer.objects.get(pk=offer.pk).status == OfferStatus.DECLINED
    elif expected == "offer_unavailable":
        frame = socket.next_of("error")
        assert frame["code"] == "offer_unavailable" and frame["offer_id"] == str(offer.pk)
        answered_then_pong(socket)
        assert offer_snapshot(offer) == before, "another agent's frame changed the offer or its ticket"
        assert Agent.objects.get(pk=caller.agent.pk).active_tickets == 0
    elif expected == "refused_unchanged":
        socket.next_of("error")
        answered_then_pong(socket)
        assert offer_snapshot(offer) == before
        assert Agent.objects.get(pk=caller.agent.pk).active_tickets == 0
    else:
        raise AssertionError(f"no check for the outcome {expected!r}")
