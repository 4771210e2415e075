"""What every websocket of the platform does with the frames a client sends: one parser, one dispatch.

A frame is a JSON object of at most MAX_FRAME_BYTES with a string "type"; the consumer's `on_<type>`
method handles it (the method names are the socket's whole vocabulary: the authorization matrix in
tests/security/test_ws_authz.py reads them). Anything else is answered with an `error` frame naming
what is wrong, and the socket stays open. A DomainError raised by a handler becomes an `error` frame
with its code, exactly as the REST layer turns it into a status (core.errors). Any other exception of a
handler is logged and answered with the code "server_error": a frame never ends the socket or the process.

A socket sending more than core.limits allows (FRAMES_PER_SECOND on average, FRAME_BURST at once) gets an
`error` frame "too_many_frames" and is closed with FRAME_FLOOD_CLOSE_CODE (4429); its frames beyond the
limit are not read.
"""

import asyncio
import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer

from core import metrics
from core.errors import DomainError
from core.limits import FRAME_FLOOD_CLOSE_CODE, FRAMES_PER_SECOND, JSON_DEPTH_MAX, FrameRate, json_too_deep
from core.log_context import log_bound

log = logging.getLogger(__name__)

FRAME_IDS = ("offer_id", "ticket_id")

MAX_FRAME_BYTES = 16 * 1024


class FrameError(DomainError):
    """A frame the socket cannot read."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def frame_parse(text_data: str | None) -> dict:
    """The frame as a dict, or FrameError saying what is wrong with it."""
    if text_data is None:
        raise FrameError("malformed", "Frames must be JSON text, not binary.")
    if len(text_data) > MAX_FRAME_BYTES:
        raise FrameError("malformed", f"Frames must be JSON text of at most {MAX_FRAME_BYTES} bytes.")
    too_deep = FrameError("malformed", f"Frames may nest objects and arrays at most {JSON_DEPTH_MAX} levels deep.")
    try:
        frame = json.loads(text_data)
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        raise FrameError("malformed", "Frames must be JSON objects.") from exc
    if json_too_deep(frame):
        raise too_deep
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("malformed", 'Frames must be JSON objects with a "type".')
    return frame


# The close code of a socket the server ends because its process is going away (a deploy): the client
# reconnects at once, with a little jitter, and reaches another process (console/static/console/socket.js).
CLOSE_CODE_RECONNECT = 4012

# The sockets this process holds, so a process that is asked to stop can tell each one to reconnect.
OPEN_SOCKETS: set["FrameConsumer"] = set()


async def sockets_drain(*, timeout_seconds: float = 5.0) -> int:
    """Send every open socket of this process a `reconnect` frame, close it with CLOSE_CODE_RECONNECT,
    and wait (at most `timeout_seconds`) until their disconnects are handled. Returns how many."""
    sockets = list(OPEN_SOCKETS)
    if not sockets:
        return 0
    await asyncio.wait(
        [asyncio.ensure_future(socket.reconnect_elsewhere()) for socket in sockets], timeout=timeout_seconds / 2
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds / 2
    while any(socket in OPEN_SOCKETS for socket in sockets) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return len(sockets)


class FrameConsumer(AsyncWebsocketConsumer):
    """A consumer whose client frames are handled by its `on_<type>` methods."""

    socket_kind = "socket"  # the label of dispatch_websocket_connections
    frame_rate = None
    closing = False

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        OPEN_SOCKETS.add(self)
        metrics.websocket_connections.labels(kind=self.socket_kind).inc()

    async def websocket_disconnect(self, message):
        if self in OPEN_SOCKETS:
            metrics.websocket_connections.labels(kind=self.socket_kind).dec()
        try:
            await super().websocket_disconnect(message)  # runs disconnect(), then ends the consumer
        finally:
            OPEN_SOCKETS.discard(self)

    async def reconnect_elsewhere(self):
        """This process is stopping: ask the client to come back (to another process) and close."""
        try:
            await self.send_frame({"type": "reconnect", "reason": "server_restart"})
            await self.close(code=CLOSE_CODE_RECONNECT)
        except Exception:  # noqa: BLE001 - already gone: nothing to tell it
            OPEN_SOCKETS.discard(self)

    async def close(self, code=None, reason=None):
        self.closing = True
        await super().close(code=code, reason=reason)

    async def send(self, text_data=None, bytes_data=None, close=False):
        # After the server closed a socket, pushes to its groups may still arrive until the client's close
        # does: they go nowhere instead of failing in the consumer.
        if self.closing:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except OSError:
            # The client went away mid-send (uvicorn's ClientDisconnected), e.g. a tab closed while its
            # socket was being set up. Raised, it would end the consumer before its disconnect handler
            # runs, leaving the connection recorded; swallowed, the disconnect comes next and cleans up.
            self.closing = True

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if self.frame_rate is None:
            self.frame_rate = FrameRate()
        if not self.frame_rate.allow():
            message = f"More than {FRAMES_PER_SECOND} frames a second: this socket is closed."
            await self.send_error("too_many_frames", message)
            await self.close(code=FRAME_FLOOD_CLOSE_CODE)
            return
        frame = None
        try:
            frame = frame_parse(text_data)
            handler = getattr(self, f"on_{frame['type']}", None)
            if handler is None:
                raise FrameError("unknown_type", f"Unknown frame type {frame['type']!r}.")
            ids = {name: frame[name] for name in FRAME_IDS if isinstance(frame.get(name), str)}
            with log_bound(**self.log_ids(), **ids):  # every line the frame causes names them
                await handler(frame)
        except DomainError as exc:
            await self.send_error(exc.code, exc.message, **self.error_context(frame))
        except Exception:  # a handler's bug must not end the socket, nor its process: logged, answered
            # The frame type only: a frame may carry what a person wrote (a decline reason).
            log.exception("websocket frame of type %.40r failed", frame.get("type") if frame else None)
            await self.send_error("server_error", "The frame could not be handled.", **self.error_context(frame))

    def log_ids(self) -> dict:
        """The ids of whoever holds this socket, for the log lines its frames cause."""
        return {}

    def error_context(self, frame: dict | None) -> dict:
        """What an error frame repeats of the frame it answers (e.g. the offer it was about)."""
        return {}

    async def send_error(self, code: str, message: str, **extra):
        await self.send_frame({"type": "error", "code": code, "message": message, **extra})

    async def send_frame(self, frame: dict):
        await self.send(text_data=json.dumps(frame, default=str))

    async def push_frame(self, event):
        """A frame sent to one of this socket's groups (core.events) goes out as it is."""
        await self.send_frame(event["frame"])

    async def push_text(self, event):
        """A frame its sender serialised once for every socket it reaches (the engine's offers)."""
        await self.send(text_data=event["text"])
