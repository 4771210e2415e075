"""What every websocket of the platform does with the frames a client sends: one parser, one dispatch.

A frame is a JSON object of at most MAX_FRAME_BYTES with a string "type"; the consumer's `on_<type>`
method handles it (the method names are the socket's whole vocabulary: the authorization matrix in
tests/security/test_ws_authz.py reads them). Anything else is answered with an `error` frame naming
what is wrong, and the socket stays open. A DomainError raised by a handler becomes an `error` frame
with its code, exactly as the REST layer turns it into a status (core.errors).
"""

import json

from channels.generic.websocket import AsyncWebsocketConsumer

from core.errors import DomainError

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
    try:
        frame = json.loads(text_data)
    except ValueError as exc:
        raise FrameError("malformed", "Frames must be JSON objects.") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("malformed", 'Frames must be JSON objects with a "type".')
    return frame


class FrameConsumer(AsyncWebsocketConsumer):
    """A consumer whose client frames are handled by its `on_<type>` methods."""

    async def receive(self, text_data=None, bytes_data=None):
        frame = None
        try:
            frame = frame_parse(text_data)
            handler = getattr(self, f"on_{frame['type']}", None)
            if handler is None:
                raise FrameError("unknown_type", f"Unknown frame type {frame['type']!r}.")
            await handler(frame)
        except DomainError as exc:
            await self.send_error(exc.code, exc.message, **self.error_context(frame))

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
