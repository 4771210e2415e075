"""Pushes to browsers, built here and sent only after the transaction that caused them commits.

A push is a hint: the database is the truth, and a client that reconnects is sent the current state
(see dispatch.consumers). Every frame carries ids, so a client can act on it or refetch.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone


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


def agent_status_push(*, agent) -> None:
    send_to_agent_on_commit(
        agent.id,
        {
            "type": "agent_status",
            "status": agent.status,
            "reason": agent.status_reason,
            "presence": agent.presence,
            "presence_reason": agent.presence_reason,
        },
    )


def ticket_payload(ticket) -> dict:
    """Everything the bot handed over, as the agent sees it before and after accepting."""
    return {
        "id": str(ticket.id),
        "external_id": ticket.external_id,
        "language": ticket.language,
        "skills": [row.skill.code for row in ticket.required_skills.all()],
        "skills_were_inferred": ticket.skills_were_inferred,
        "skill_inference": ticket.skill_inference,
        "reason": ticket.reason,
        "priority": ticket.priority,
        "priority_was_derived": ticket.priority_was_derived,
        "sentiment": None if ticket.sentiment is None else str(ticket.sentiment),
        "summary": ticket.summary,
        "customer": {
            "display_name": ticket.customer_display_name,
            "tier": ticket.customer_tier,
            "vulnerable": ticket.customer_vulnerable,
        },
        "handoff": ticket.handoff,
        "transcript": [
            {"role": m.author_kind, "text": m.text, "at": m.at.isoformat()} for m in ticket.messages.order_by("seq")
        ],
        "queued_at": ticket.queued_at.isoformat(),
    }


def offer_frame(offer, *, now=None) -> dict:
    now = now or timezone.now()
    return {
        "type": "offer",
        "offer_id": str(offer.id),
        "expires_at": offer.expires_at.isoformat(),
        "remaining_seconds": max(0.0, round((offer.expires_at - now).total_seconds(), 1)),
        "ticket": ticket_payload(offer.ticket),
        "pay_estimate": {
            "amount": f"{offer.pay_estimate_amount:.2f}",
            "currency": offer.pay_estimate_currency,
            "surge": f"{offer.surge:.2f}",
        },
        "why": offer.why,
    }


def offer_push(offer) -> None:
    # Built after commit too, so the frame shows what was committed.
    transaction.on_commit(lambda: send_to_group_now(agent_group(offer.agent_id), offer_frame(offer)), robust=True)


def offer_withdrawn_push(*, agent_id, offer_id, reason: str) -> None:
    send_to_agent_on_commit(agent_id, {"type": "offer_withdrawn", "offer_id": str(offer_id), "reason": reason})
