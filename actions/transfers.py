"""An agent passes a customer on to a colleague (a warm transfer) or takes the request back.

Each entry point is one durable transaction under the ticket's row lock; the offers, the pushes and the
audit entry are dispatch.transfers' work, sent after commit. Accepting a transfer is an ordinary offer
accept (dispatch.services.offer_accept), which moves the ticket and pays the sender for their part.
"""

from django.db import transaction

from agents.models import Agent
from core.errors import NotFound
from dispatch import transfers
from dispatch.models import Transfer
from tickets.locks import ticket_lock


@transaction.atomic(durable=True)
def ticket_transfer(*, ticket_id, agent: Agent, to: dict, note: str = "") -> Transfer:
    """`agent` asks to pass the ticket they hold to {"agent_id"} or a {"skills", "language"} pool; they
    keep it until someone accepts (dispatch.transfers.transfer_create has the refusals)."""
    ticket = ticket_lock(ticket_id=ticket_id)
    if ticket is None:
        raise NotFound("No such ticket among yours.")
    return transfers.transfer_create(ticket=ticket, sender=agent, to=to, note=note)


@transaction.atomic(durable=True)
def ticket_transfer_withdraw(*, ticket_id, agent: Agent) -> Transfer:
    """The sender withdraws their pending transfer of the ticket; the offers it made are withdrawn."""
    ticket = ticket_lock(ticket_id=ticket_id)
    if ticket is None:
        raise NotFound("You have no transfer of this ticket waiting for an answer.")
    return transfers.transfer_withdraw(ticket=ticket, sender=agent)
