"""A ticket's verbs that reach beyond the tickets app: what the bot platform, the customer and the agent
do to a ticket, each one transaction that also tells dispatch (offer it, the agent has room), pays the
agent (payouts) and pushes to the browsers, all after commit.

The ticket's own part of each verb is in tickets.services; this module composes it with the rest.
"""

import logging

from django.db import transaction
from django.utils import timezone

from agents.models import Agent
from core import metrics
from core.events import send_to_agent_on_commit
from dispatch.policy import policy_current
from dispatch.services import agent_dispatch_on_commit, offers_withdraw_for_ticket, ticket_dispatch_on_commit
from dispatch.transfers import transfers_end_for_ticket
from payouts.services import csat_recorded_on_commit, ticket_pay_on_commit
from tickets import services as tickets
from tickets.locks import ticket_lock
from tickets.models import Assignment, AssignmentEnd, Ticket, TicketStatus
from tickets.webhooks import webhook_event_record

S = TicketStatus
log = logging.getLogger(__name__)


@transaction.atomic(durable=True)
def ticket_escalate(**escalation) -> tuple[Ticket, bool]:
    """The bot platform hands a customer over (tickets.services.ticket_escalate: one ticket per
    external_id, whatever races); a new ticket is offered once the transaction commits."""
    ticket, created = tickets.ticket_escalate(**escalation, default_skill_level=policy_current().default_skill_level)
    if created:
        ticket_dispatch_on_commit(ticket_id=ticket.pk)
        log.info("ticket escalated", extra={"ticket_id": ticket.pk})
    return ticket, created


@transaction.atomic(durable=True)
def ticket_cancel(*, ticket: Ticket) -> Ticket:
    """The customer left: the ticket is cancelled, its open offers are withdrawn (agents see them vanish),
    and an agent who held it is told, gets the slot back and is paid for the time they served.
    Cancelling a cancelled ticket again changes nothing."""
    return ticket_cancel_locked(ticket=ticket_lock(ticket_id=ticket.pk))


def ticket_cancel_locked(*, ticket: Ticket) -> Ticket:
    """ticket_cancel inside a caller's transaction that holds the ticket's row lock (a supervisor's
    cancellation, which also records why)."""
    locked = ticket
    if locked.status == S.CANCELLED:
        return locked
    holder_id = tickets.ticket_cancel(ticket=locked, now=timezone.now())
    offers_withdraw_for_ticket(ticket=locked, reason="cancelled")
    if holder_id is not None:
        send_to_agent_on_commit(holder_id, {"type": "ticket_cancelled", "ticket_id": str(locked.pk)})
        agent_dispatch_on_commit(agent_id=holder_id)
        ticket_pay_on_commit(ticket_id=locked.pk)
    return locked


def _conversation_ended(*, ticket: Ticket, assignment: Assignment | None, wrap_up_seconds: int) -> None:
    """After a resolve or hand-back: free and pay at once, or start the wrap-up and its timer."""
    if assignment is None:
        return
    if not wrap_up_seconds:
        agent_dispatch_on_commit(agent_id=assignment.agent_id)
        ticket_pay_on_commit(ticket_id=ticket.pk)
        return
    from actions.tasks import assignment_wrap_up_end_task

    send_to_agent_on_commit(
        assignment.agent_id,
        {"type": "wrap_up", "ticket_id": str(ticket.pk), "until": assignment.wrap_up_until.isoformat()},
    )
    # A little after the end, so the database agrees it is due; the sweep catches a lost task.
    transaction.on_commit(
        lambda: assignment_wrap_up_end_task.apply_async(args=[str(assignment.pk)], countdown=wrap_up_seconds + 0.3),
        robust=True,
    )


@transaction.atomic(durable=True)
def ticket_resolve(
    *, ticket_id, agent: Agent, outcome: str, notes: str = "", bot_feedback: dict | None = None
) -> Ticket:
    """The assigned agent closes the ticket with an outcome and feedback for the bot's owners.

    assigned -> resolved (409 otherwise); the bot platform gets a `ticket.resolved` webhook. The agent's
    slot stays taken for the policy's wrap-up (no new offer meanwhile), then the ticket is closed and
    paid (assignment_wrap_up_end)."""
    ticket = tickets.ticket_assigned_to(ticket_id=ticket_id, agent=agent)
    transfers_end_for_ticket(ticket=ticket)  # a pending transfer of it is moot now
    wrap_up_seconds = policy_current().wrap_up_seconds
    assignment = tickets.ticket_conversation_end(
        ticket=ticket,
        to=S.RESOLVED,
        reason=AssignmentEnd.RESOLVED,
        wrap_up_seconds=wrap_up_seconds,
        now=timezone.now(),
        outcome=outcome,
        resolution_notes=notes,
        bot_feedback=bot_feedback or {},
    )
    webhook_event_record(ticket=ticket, event="ticket.resolved", data={"resolution": {"outcome": outcome}})
    _conversation_ended(ticket=ticket, assignment=assignment, wrap_up_seconds=wrap_up_seconds)
    return ticket


@transaction.atomic(durable=True)
def ticket_hand_back(*, ticket_id, agent: Agent, notes: str = "") -> Ticket:
    """The assigned agent returns the conversation to the bot (assigned -> handed_back, 409 otherwise).
    A `ticket.handed_back` webhook carries the agent's notes for the bot; wrap-up, close and pay as for a
    resolve."""
    ticket = tickets.ticket_assigned_to(ticket_id=ticket_id, agent=agent)
    transfers_end_for_ticket(ticket=ticket)  # a pending transfer of it is moot now
    wrap_up_seconds = policy_current().wrap_up_seconds
    assignment = tickets.ticket_conversation_end(
        ticket=ticket,
        to=S.HANDED_BACK,
        reason=AssignmentEnd.HANDED_BACK,
        wrap_up_seconds=wrap_up_seconds,
        now=timezone.now(),
        resolution_notes=notes,
    )
    webhook_event_record(ticket=ticket, event="ticket.handed_back", data={"hand_back": {"notes": notes}})
    _conversation_ended(ticket=ticket, assignment=assignment, wrap_up_seconds=wrap_up_seconds)
    return ticket


@transaction.atomic(durable=True)
def assignment_wrap_up_end(*, assignment_id=None, ticket_id=None, agent: Agent | None = None) -> Assignment | None:
    """The wrap-up ends: by the agent ("ready for the next customer") or by its timer. The slot is free,
    the ticket closed and paid, counting the wrap-up really taken (tickets.services.assignment_release:
    once, whoever comes first). None when there is no such wrap-up (any more)."""
    assignment = tickets.assignment_release(assignment_id=assignment_id, ticket_id=ticket_id, agent=agent)
    if assignment is None:
        return None
    agent_dispatch_on_commit(agent_id=assignment.agent_id)
    ticket_pay_on_commit(ticket_id=assignment.ticket_id)
    send_to_agent_on_commit(assignment.agent_id, {"type": "wrap_up_ended", "ticket_id": str(assignment.ticket_id)})
    return assignment


def wrap_ups_end_due() -> int:
    """End the wrap-ups whose time is up and whose timer task was lost or late (the sweep)."""
    ended = sum(1 for pk in tickets.wrap_ups_due() if assignment_wrap_up_end(assignment_id=pk) is not None)
    metrics.count_on_commit(metrics.sweep_repairs_total, ended, kind="wrap_ups_ended")
    return ended


@transaction.atomic(durable=True)
def ticket_csat_record(*, ticket: Ticket, score: int, comment: str = "") -> Ticket:
    """The customer's rating, once per ticket a human handled (tickets.services.ticket_csat_record); a
    quality bonus that qualifies is paid after commit."""
    ticket = tickets.ticket_csat_record(ticket=ticket, score=score, comment=comment)
    csat_recorded_on_commit(ticket_id=ticket.pk)
    return ticket
