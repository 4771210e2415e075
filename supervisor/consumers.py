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
import logging

from channels.db import database_sync_to_async

from agents.models import Role
from core.events import SUPERVISORS_GROUP
from core.sockets import FrameConsumer
from supervisor.selectors import board_fingerprint, board_snapshot_cached

log = logging.getLogger(__name__)
REFRESH_SECONDS = 1.0


class SupervisorConsumer(FrameConsumer):
    socket_kind = "supervisor"
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

    async def close(self, code=None, reason=None):
        # Closed by the server (a flood, core.sockets): the board stops now, not when the client answers.
        if self.refresher is not None:
            self.refresher.cancel()
        await super().close(code=code, reason=reason)

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

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong"})

    async def on_sync(self, frame):
        await self.send_board(force=True)
