"""The only place that takes row locks. Order everywhere: the ticket first, then agents by pk."""

from tickets.models import Ticket


def ticket_lock(*, ticket_id, skip_locked: bool = False) -> Ticket | None:
    """Lock a ticket row for the rest of the transaction (None if missing, or taken with skip_locked).

    On SQLite select_for_update is a no-op; there the IMMEDIATE transaction mode serialises writers.
    """
    return Ticket.objects.select_for_update(skip_locked=skip_locked, of=("self",)).filter(pk=ticket_id).first()
