"""Row locks on tickets, taken only here. Order everywhere: the ticket first, then agents (by pk)."""

from tickets.models import Ticket


def ticket_lock(*, ticket_id, queryset=None, skip_locked: bool = False) -> Ticket | None:
    """Lock the ticket row for the rest of the transaction; None if it does not exist (in `queryset`),
    or, with `skip_locked`, when another transaction holds it (a queue-style claim).

    On SQLite select_for_update is a no-op; there the IMMEDIATE transaction mode serialises writers.
    """
    tickets = queryset if queryset is not None else Ticket.objects.all()
    return (
        tickets.select_for_update(of=("self",), skip_locked=skip_locked)
        .select_related("integration")
        .filter(pk=ticket_id)
        .first()
    )
