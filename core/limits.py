"""The platform's request-level limits in one place (README "Limits"): what a request body, a JSON document
and a websocket may carry. A request over them gets a 413, a 400 or a close code, never a 500 or a worker
busy for long."""

import json
import time

from django.conf import settings

# JSON nested deeper than this is refused. Nothing the API or the sockets accept nests more than a handful
# of levels; a deep document costs the parser and every walk over it (and Python's recursion limit ends
# near 1,000 levels, with an error the REST layer would not name).
JSON_DEPTH_MAX = 32

# A socket may send FRAMES_PER_SECOND frames a second on average and FRAME_BURST at once: a console sends
# a ping every 25 s and a frame per click. A socket over it is closed with FRAME_FLOOD_CLOSE_CODE (4429,
# as HTTP's 429), after an `error` frame with the code "too_many_frames".
FRAMES_PER_SECOND = 20
FRAME_BURST = 60
FRAME_FLOOD_CLOSE_CODE = 4429
# The ASGI server (Procfile: --ws-max-size) closes a socket sending a message over this with 1009.
WEBSOCKET_MESSAGE_MAX_BYTES = 1024 * 1024


def request_body_max_bytes() -> int:
    """The largest request body accepted (Django's DATA_UPLOAD_MAX_MEMORY_SIZE): larger is a 413."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def json_too_deep(value, *, limit: int = JSON_DEPTH_MAX) -> bool:
    """Whether a parsed JSON document nests objects and arrays deeper than `limit` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class FrameRate:
    """A token bucket: FRAME_BURST frames at once, refilled at FRAMES_PER_SECOND. One per socket."""

    def __init__(self, *, per_second: float = FRAMES_PER_SECOND, burst: int = FRAME_BURST):
        self.per_second = per_second
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def too_large_body(length: int, limit: int) -> bytes:
    message = f"The request body is {length} bytes; at most {limit} are accepted."
    return json.dumps({"code": "too_large", "message": message}).encode()


class RequestBodyLimitASGI:
    """The body limit at the ASGI server, before Django spools a body to disk: a declared Content-Length over
    the limit is answered 413 without reading a byte; a body without one (chunked) is read here up to the
    limit and answered 413 past it, so no worker reads an endless upload."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = request_body_max_bytes()
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers[b"content-length"]) if b"content-length" in headers else None
        except ValueError:
            declared = None
        if declared is not None:
            if declared > limit:
                return await self._answer_too_large(send, declared, limit)
            return await self.app(scope, receive, send)
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await self._answer_too_large(send, size, limit)
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)

    @staticmethod
    async def _answer_too_large(send, length: int, limit: int):
        body = too_large_body(length, limit)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
