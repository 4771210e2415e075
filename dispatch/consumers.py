"""The agent's websocket, /ws/agent/ (CONTRACT.md "Agents: offers and work").

Thin by design: authenticate, join the agent's group, translate frames to service calls and service
results (or DomainErrors) to frames. The rules live in agents.presence and dispatch.services.
"""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from agents.models import Role
from dispatch.events import agent_group


@database_sync_to_async
def _agent_for(user):
    if not user.is_authenticated or user.role != Role.AGENT:
        return None
    return user.agent


class AgentConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.agent = await _agent_for(self.scope["user"])
        if self.agent is None:
            await self.close(code=4401)
            return
        self.group = agent_group(self.agent.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "agent", None) is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            await self.send_frame({"type": "error", "code": "malformed", "message": "Frames must be JSON objects."})
            return
        if isinstance(frame, dict) and frame.get("type") == "ping":
            await self.send_frame({"type": "pong"})

    async def push_frame(self, event):
        await self.send_frame(event["frame"])

    async def send_frame(self, frame: dict):
        await self.send(text_data=json.dumps(frame))
