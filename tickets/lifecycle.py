"""The ticket state machine: every status change goes through ticket_transition.

    queued ──▶ offered ──▶ assigned ──▶ resolved
      ▲  ◀─────┘ (declined,     │ ──▶ handed_back
      │         expired)        │
      └─────────────────────────┘ (agent gone, supervisor requeue)
    queued / offered / assigned ──▶ cancelled (the customer left)

Who holds an assigned ticket is its open Assignment (tickets.models); resolved and handed-back tickets
keep theirs through the wrap-up, and `closed_at` is stamped when the wrap-up ends (tickets.services).
A warm transfer changes the holder without a status change (assigned stays assigned):
tickets.services.ticket_holder_change, a conditional UPDATE on the sender still holding it.

A transition is a conditional UPDATE on the current status, so two racing writers cannot both move the
same ticket: the loser sees zero rows and gets IllegalTransition (HTTP 409).
"""

from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.errors import DomainError
from tickets.models import Ticket, TicketStatus

S = TicketStatus

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.OFFERED, S.CANCELLED}),
    S.OFFERED: frozenset({S.QUEUED, S.ASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.RESOLVED, S.HANDED_BACK, S.QUEUED, S.CANCELLED}),
    S.RESOLVED: frozenset(),
    S.CANCELLED: frozenset(),
    S.HANDED_BACK: frozenset(),
}
OPEN_STATUSES = frozenset({S.QUEUED, S.OFFERED, S.ASSIGNED})


class IllegalTransition(DomainError):
    def __init__(self, *, ticket_id, to: str, current: str | None):
        super().__init__(
            "illegal_transition",
            f"Ticket {ticket_id} cannot go from {current or 'unknown'} to {to}.",
            http_status=409,
        )
        self.current = current


def _sources_of(target: str) -> set[str]:
    return {source for source, targets in ALLOWED_TRANSITIONS.items() if target in targets}


def ticket_transition(*, ticket: Ticket, to: str, from_statuses=None, now=None, **changes) -> Ticket:
    """Move `ticket` to `to` if it is still in one of `from_statuses` (default: every legal source).

    Stamps the lifecycle times, applies `changes` in the same UPDATE, and puts those fields onto the
    instance. Raises IllegalTransition when the ticket is no longer where the caller believed it was.
    """
    sources = _sources_of(to)
    if from_statuses is not None:
        sources &= set(from_statuses)
    now = now or timezone.now()
    stamps: dict = {}
    if to == S.OFFERED:
        stamps["first_offered_at"] = Coalesce("first_offered_at", Value(now))
    elif to == S.ASSIGNED:
        stamps["assigned_at"] = now
    elif to == S.RESOLVED:
        stamps["resolved_at"] = now
    elif to == S.CANCELLED:
        stamps["closed_at"] = now
    updated = Ticket.objects.filter(pk=ticket.pk, status__in=sources).update(status=to, **stamps, **changes)
    if updated != 1:
        current = Ticket.objects.filter(pk=ticket.pk).values_list("status", flat=True).first()
        raise IllegalTransition(ticket_id=ticket.pk, to=to, current=current)
    # Plain values are what the row now holds; only expressions (first_offered_at's COALESCE, an F())
    # need reading back.
    computed = {name: value for name, value in {**stamps, **changes}.items() if hasattr(value, "resolve_expression")}
    for name, value in {"status": to, **stamps, **changes}.items():
        if name not in computed:
            setattr(ticket, name, value)
    if computed:
        ticket.refresh_from_db(fields=list(computed))
    return ticket


def tickets_transition_many(*, ticket_ids, to: str, from_statuses, now=None, **changes) -> int:
    """ticket_transition for many tickets in one UPDATE (the dispatch engine's batch of offers): the
    same conditional move and stamps. Returns how many moved; the caller, holding the rows' locks,
    expects all of them."""
    sources = _sources_of(to) & set(from_statuses)
    now = now or timezone.now()
    stamps: dict = {}
    if to == S.OFFERED:
        stamps["first_offered_at"] = Coalesce("first_offered_at", Value(now))
    elif to == S.ASSIGNED:
        stamps["assigned_at"] = now
    elif to == S.RESOLVED:
        stamps["resolved_at"] = now
    elif to == S.CANCELLED:
        stamps["closed_at"] = now
    return Ticket.objects.filter(pk__in=list(ticket_ids), status__in=sources).update(status=to, **stamps, **changes)
