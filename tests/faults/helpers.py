"""What the fault tests share: waiting, a bot that escalates over HTTP, and the invariants checked after a fault."""

import time
import uuid

import httpx
from django.db.models import Count

from dispatch.models import Offer, OfferStatus
from payouts.models import PayLine, TicketPay
from tickets.models import Ticket


def wait_until(condition, timeout: float, interval: float = 0.2, message: str = ""):
    """The first truthy value of `condition()`; fails after `timeout` seconds with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = message() if callable(message) else message
            raise AssertionError(f"not within {timeout}s: {detail}")
        time.sleep(interval)


def escalation(external_id: str | None = None, language: str = "en", **fields) -> dict:
    return {
        "external_id": external_id or f"chat-{uuid.uuid4().hex[:10]}",
        "customer": {"ref": "c-42", "display_name": "Anna", "tier": "standard", "vulnerable": False},
        "language": language,
        "skills": [],
        "reason": "customer_request",
        "priority": 1,
        "summary": "Double charge on order 1234",
        "transcript": [{"role": "customer", "text": "I was charged twice", "at": "2026-11-21T10:00:00+01:00"}],
        **fields,
    }


def escalate(
    base_url: str, token: str, body: dict, *, retry_for_seconds: float = 0, answers: list | None = None
) -> httpx.Response:
    """POST the escalation as the bot platform does: on a 5xx or no answer, the same body again.
    Every answer's status (0 for none) is appended to `answers`."""
    deadline = time.monotonic() + retry_for_seconds
    while True:
        try:
            response = httpx.post(
                f"{base_url}/api/v1/tickets/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=15
            )
            if answers is not None:
                answers.append(response.status_code)
            if response.status_code < 500 or time.monotonic() > deadline:
                return response
        except httpx.HTTPError:
            if answers is not None:
                answers.append(0)
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def duplicate_pay_lines(ticket_ids) -> int:
    """Pay lines beyond the first of each (ticket, kind): what paying a ticket twice would leave."""
    groups = (
        PayLine.objects.filter(ticket_id__in=list(ticket_ids))
        .values("ticket_id", "kind")
        .annotate(lines=Count("id"))
        .filter(lines__gt=1)
    )
    return sum(group["lines"] - 1 for group in groups)


def tickets_without_pay(ticket_ids) -> list:
    ticket_ids = [str(pk) for pk in ticket_ids]
    paid = {str(pk) for pk in TicketPay.objects.filter(ticket_id__in=ticket_ids).values_list("ticket_id", flat=True)}
    with_lines = {
        str(pk) for pk in PayLine.objects.filter(ticket_id__in=ticket_ids).values_list("ticket_id", flat=True)
    }
    return [pk for pk in ticket_ids if pk not in paid or pk not in with_lines]


def tickets_lost(ticket_ids) -> list:
    """Tickets that are gone, or neither finished nor on their way to an agent (a stuck `offered`
    ticket without a pending offer counts as lost)."""
    ticket_ids = [str(pk) for pk in ticket_ids]
    found = {str(pk): status for pk, status in Ticket.objects.filter(pk__in=ticket_ids).values_list("pk", "status")}
    lost = [pk for pk in ticket_ids if pk not in found]
    for pk, status in found.items():
        if status == "offered" and not Offer.objects.filter(ticket_id=pk, status=OfferStatus.PENDING).exists():
            lost.append(pk)
    return lost
