"""Offer frames for the agent's socket (the "offer" frame of the websocket protocol), sent after commit."""

from django.db import transaction
from django.utils import timezone

from core.events import agent_group, send_to_agent_on_commit, send_to_group_now
from dispatch.reasons import why_text
from tickets.selectors import ticket_offer_payload


def offer_frame(offer, *, now=None, language: str | None = None) -> dict:
    """The offer as the agent's socket shows it, `why` in `language` (default: the agent's own)."""
    now = now or timezone.now()
    ticket = ticket_offer_payload(offer.ticket)
    if offer.transfer_id is not None:
        # A colleague's warm transfer: who sends it and why (their note).
        transfer = offer.transfer
        ticket["transfer"] = {"from": transfer.from_agent.display_name, "note": transfer.note}
    return {
        "type": "offer",
        "offer_id": str(offer.id),
        "expires_at": offer.expires_at.isoformat(),
        "remaining_seconds": max(0.0, round((offer.expires_at - now).total_seconds(), 1)),
        "ticket": ticket,
        "pay_estimate": {
            "amount": f"{offer.pay_estimate_amount:.2f}",
            "currency": offer.pay_estimate_currency,
            "surge": f"{offer.surge:.2f}",
        },
        # In the agent's own language (dispatch.reasons); offers older than the codes keep their text.
        "why": why_text(offer.why_codes, language=language or offer.agent.ui_language or "en")
        if offer.why_codes
        else offer.why,
    }


def offer_push(offer) -> None:
    # Built after commit too, so the frame shows what was committed.
    transaction.on_commit(lambda: send_to_group_now(agent_group(offer.agent_id), offer_frame(offer)), robust=True)


def offer_withdrawn_push(*, agent_id, offer_id, reason: str) -> None:
    send_to_agent_on_commit(agent_id, {"type": "offer_withdrawn", "offer_id": str(offer_id), "reason": reason})
