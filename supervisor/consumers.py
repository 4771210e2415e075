"""The supervisor's websocket, /ws/supervisor/: the live board.

On connect (and on `{"type": "sync"}`) the server sends `{"type": "board", ...}` with the whole board
(supervisor.selectors.board_snapshot). While connected it looks at the board every second and sends it again
when anything but the clock changed, so every change shows within about two seconds; the board is
cached for a second, so many supervisors cost one computation a second. Frames sent to the
`supervisors` group are forwarded as they come: `alert` (raised by the escalation steps and presence),
`appeal`, and `alert_acknowledged` (dispatch.alerts: who acknowledged which alert and when, so every
supervisor's board moves it at once, before the next board frame). `{"type": "ping"}` → `{"type": "pong"}`.
"""

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from agents.models import Role
from core.events import SUPERVISORS_GROUP
from supervisor.selectors import board_fingerprint, board_snapshot_cached

log = logging.getLogger(__name__)
REFRESH_SECONDS = 1.0


class SupervisorConsumer(AsyncWebsocketConsumer):
    refresher = None
    last_fingerprint = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        role = await database_sync_to_async(lambda: user.role)()
        if role != Role.SUPERVISOR:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(SUPERVISORS_GROUP, self.channel_name)
        await self.accept()
        await self.send_board(force=True)
        self.refresher = asyncio.create_task(self.refresh_forever())

    async def disconnect(self, code):
        if self.refresher is not None:
            self.refresher.cancel()
        await self.channel_layer.group_discard(SUPERVISORS_GROUP, self.channel_name)

    async def refresh_forever(self):
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.send_board()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed refresh must not end the board; the next one retries
                log.exception("supervisor board refresh failed")

    async def send_board(self, *, force: bool = False):
        snapshot = await database_sync_to_async(board_snapshot_cached)()
        fingerprint = board_fingerprint(snapshot)
        if force or fingerprint != self.last_fingerprint:
            self.last_fingerprint = fingerprint
            await self.send_frame({"type": "board", **snapshot})

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("malformed", 'Frames must be JSON objects with a "type".')
            return
        # The handlers are the on_<type> methods: the authorization matrix (tests/security/test_ws_authz.py)
        # reads them, so a new frame type cannot be added without saying who may send it.
        handler = getattr(self, f"on_{frame['type']}", None)
        if handler is None:
            await self.send_error("unknown_type", f"Unknown frame type {frame['type']!r}.")
            return
        await handler(frame)

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong"})

    async def on_sync(self, frame):
        await self.send_board(force=True)

    async def send_error(self, code: str, message: str):
        await self.send_frame({"type": "error", "code": code, "message": message})

    async def push_frame(self, event):
        await self.send_frame(event["frame"])

    async def send_frame(self, frame: dict):
        await self.send(text_data=json.dumps(frame, default=str))
