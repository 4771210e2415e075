"""Pushes to browsers, built here and sent only after the transaction that caused them commits.

A push is a hint: the database is the truth, and a client that reconnects is sent the current state
(see console.consumers). Every frame carries ids, so a client can act on it or refetch.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def agent_group(agent_id) -> str:
    return f"agent.{agent_id}"


SUPERVISORS_GROUP = "supervisors"


def send_to_group_now(group: str, frame: dict) -> None:
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(group, {"type": "push.frame", "frame": frame})


def send_to_agent_on_commit(agent_id, frame: dict) -> None:
    transaction.on_commit(lambda: send_to_group_now(agent_group(agent_id), frame), robust=True)


def send_to_supervisors_on_commit(frame: dict) -> None:
    transaction.on_commit(lambda: send_to_group_now(SUPERVISORS_GROUP, frame), robust=True)
