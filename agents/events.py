"""Pushes about an agent's own account, sent after commit (core.events)."""

from core.events import send_to_agent_on_commit


def agent_status_push(*, agent) -> None:
    send_to_agent_on_commit(
        agent.id,
        {
            "type": "agent_status",
            "status": agent.status,
            "reason": agent.status_reason,
            "presence": agent.presence,
            "presence_reason": agent.presence_reason,
            "break_until": agent.break_until.isoformat() if agent.break_until else None,
        },
    )
