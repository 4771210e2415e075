"""Supervisors' decisions: moving tickets by hand, admitting and certifying agents, deciding appeals.

Each entry point is one transaction, is recorded in the audit log with who and why, and tells the people
concerned after commit. Ticket moves go through tickets.lifecycle.ticket_transition under the ticket's
row lock (tickets.locks), and an agent's capacity is claimed with a conditional UPDATE, exactly as
dispatch.services.offer_accept does, so a reassignment racing an accept or another reassignment
leaves the ticket with exactly one holder.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from actions.tickets import ticket_cancel_locked
from agents.events import agent_status_push
from agents.models import Agent, SuspensionAppeal
from agents.services import agent_capacity_claim, agent_reinstate, agent_update
from core import events
from core.audit import audit_record
from core.errors import DomainError, InvalidInput, NotFound
from core.models import AuditEntry
from dispatch.models import WithdrawReason
from dispatch.selectors import reassign_problems
from dispatch.services import offers_withdraw_for_ticket, ticket_return_to_queue
from tickets.lifecycle import ticket_transition
from tickets.locks import ticket_lock
from tickets.models import AssignmentEnd, Ticket, TicketStatus
from tickets.services import assignment_end, assignment_open
from tickets.webhooks import webhook_event_record

S = TicketStatus


class Forbidden(DomainError):
    def __init__(self, code: str, message: str):
        super().__init__(code, message, http_status=403)


def _require_reason(reason: str, *, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [f"A reason is required: {what}."]})
    return reason


def _locked_ticket(ticket_id) -> Ticket:
    ticket = ticket_lock(ticket_id=ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


# ---------------------------------------------------------------- eligibility


# ---------------------------------------------------------------- ticket actions


@transaction.atomic(durable=True)
def ticket_reassign(*, ticket_id, agent_id, actor, reason: str) -> Ticket:
    """Give an open ticket to the agent the supervisor chose, if eligible. Pending offers are withdrawn
    ("taken"); a previous holder loses it (their assignment ends as "reassigned", their slot is free)
    and is told; the bot is told a human joined. A reason is required and audited.

    Race-safe: the ticket row is locked first, every status change is conditional, the agent's capacity
    is claimed by a conditional UPDATE (active, under max_concurrent), and the open assignment's unique
    constraint refuses a second holder, so a concurrent accept, reassignment or capacity change makes
    exactly one of them win.
    """

    reason = _require_reason(reason, what="the agents concerned are told it and it is audited")
    ticket = _locked_ticket(ticket_id)
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        raise InvalidInput({"agent_id": ["No such agent."]})
    if ticket.status not in (S.QUEUED, S.OFFERED, S.ASSIGNED):
        raise DomainError("ticket_closed", f"The ticket is {ticket.status}; only open tickets can be reassigned.")
    problems = reassign_problems(ticket=ticket, agent=agent)
    if problems:
        raise DomainError("agent_ineligible", " ".join(problems), fields={"agent_id": problems})
    if not agent_capacity_claim(agent_id=agent.pk):
        raise DomainError("agent_ineligible", f"{agent.display_name} has no room for another ticket now.")
    now = timezone.now()
    previous_holder = ticket.assigned_agent_id if ticket.status == S.ASSIGNED else None
    offers_withdraw_for_ticket(ticket=ticket, reason=WithdrawReason.TAKEN)
    # The state machine has no assigned -> assigned or queued -> assigned edge: walk the legal path, each
    # step conditional on the step before, all under the row lock and in this transaction.
    if ticket.status == S.ASSIGNED:
        ticket_transition(ticket=ticket, to=S.QUEUED, from_statuses=[S.ASSIGNED], now=now, assigned_agent=None)
        assignment_end(ticket=ticket, reason=AssignmentEnd.REASSIGNED, now=now)
    if ticket.status == S.QUEUED:
        ticket_transition(ticket=ticket, to=S.OFFERED, from_statuses=[S.QUEUED], now=now)
    ticket_transition(ticket=ticket, to=S.ASSIGNED, from_statuses=[S.OFFERED], now=now, assigned_agent=agent)
    assignment_open(ticket=ticket, agent_id=agent.pk, now=now)
    if previous_holder is not None:
        events.send_to_agent_on_commit(
            previous_holder, {"type": "ticket_reassigned", "ticket_id": str(ticket.pk), "reason": reason}
        )
    events.send_to_agent_on_commit(
        agent.pk, {"type": "assigned", "offer_id": None, "ticket_id": str(ticket.pk), "by_supervisor": True}
    )
    webhook_event_record(ticket=ticket, event="ticket.assigned", data={"agent": {"display_name": agent.display_name}})
    audit_record(
        actor=actor,
        action="ticket.reassigned",
        subject=ticket,
        reason=reason,
        data={"to_agent": str(agent.pk), "from_agent": str(previous_holder or "")},
    )
    return ticket


@transaction.atomic(durable=True)
def ticket_requeue(*, ticket_id, actor, reason: str) -> Ticket:
    """Take an assigned ticket from its holder and put it back in the queue at its old place; any
    eligible agent can then accept it through a normal offer (dispatch.services.ticket_return_to_queue).
    The holder is told why. A reason is required and audited."""
    reason = _require_reason(reason, what="the agent who held the ticket is told it and it is audited")
    ticket = _locked_ticket(ticket_id)
    if ticket.status == S.QUEUED:
        raise DomainError("already_queued", "The ticket is in the queue already.")
    if ticket.status != S.ASSIGNED:
        raise DomainError(
            "not_assigned",
            f"The ticket is {ticket.status}, not assigned: only a ticket an agent holds can be requeued.",
        )
    previous_holder = ticket_return_to_queue(ticket=ticket, reason=AssignmentEnd.REQUEUED)
    events.send_to_agent_on_commit(
        previous_holder, {"type": "ticket_requeued", "ticket_id": str(ticket.pk), "reason": reason}
    )
    audit_record(
        actor=actor,
        action="ticket.requeued",
        subject=ticket,
        reason=reason,
        data={"from_agent": str(previous_holder)},
    )
    return ticket


@transaction.atomic(durable=True)
def ticket_cancel_by_supervisor(*, ticket_id, actor, reason: str) -> Ticket:
    """Cancel an open ticket (the customer is gone, or it is a duplicate). A reason is required."""
    reason = _require_reason(reason, what="the cancellation is recorded with it")
    ticket = _locked_ticket(ticket_id)
    if ticket.status not in (S.QUEUED, S.OFFERED, S.ASSIGNED):
        raise DomainError("ticket_closed", f"The ticket is {ticket.status} already.")
    ticket = ticket_cancel_locked(ticket=ticket)
    audit_record(actor=actor, action="ticket.cancelled", subject=ticket, reason=reason)
    return ticket


# ---------------------------------------------------------------- the pool


@transaction.atomic(durable=True)
def agent_approve(*, agent_id, actor, reason: str = "") -> Agent:
    """Admit an agent waiting for approval (pending -> active); they are told."""
    updated = Agent.objects.filter(pk=agent_id, status=Agent.Status.PENDING).update(
        status=Agent.Status.ACTIVE, status_reason=reason or "Approved."
    )
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent.")
    if not updated:
        raise DomainError("not_pending", f"{agent.display_name} is {agent.status}, not waiting for approval.")
    audit_record(actor=actor, action="agent.approved", subject=agent, reason=reason)
    agent_status_push(agent=agent)
    return agent


@transaction.atomic(durable=True)
def agent_skill_certify(*, agent_id, actor, skill: str, level: int | None) -> Agent:
    """Certify one skill at `level` (1..5), or withdraw it (None), keeping the agent's other skills."""

    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent.")
    if level is not None and not 1 <= level <= 5:
        raise InvalidInput({"level": ["A skill level is a whole number from 1 to 5."]})
    levels = dict(agent.skill_levels.values_list("skill__code", "level"))
    if level is None:
        levels.pop(skill, None)
    else:
        levels[skill] = level
    return agent_update(agent=agent, actor=actor, skills=levels)


# ---------------------------------------------------------------- appeals


def _last_suspension(agent: Agent) -> AuditEntry | None:
    return (
        AuditEntry.objects.filter(action="agent.suspended", subject_type="agent", subject_id=str(agent.pk))
        .order_by("-at", "-pk")
        .first()
    )


@transaction.atomic(durable=True)
def appeal_submit(*, agent: Agent, text: str) -> SuspensionAppeal:
    """A suspended agent answers the suspension. One open appeal at a time; supervisors are told."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput({"text": ["Say why the suspension should be lifted."]})
    agent = Agent.objects.get(pk=agent.pk)
    if agent.status != Agent.Status.SUSPENDED:
        raise DomainError("not_suspended", "Only a suspended agent can appeal.")
    suspension = _last_suspension(agent)
    try:
        with transaction.atomic():
            appeal = SuspensionAppeal.objects.create(
                agent=agent,
                text=text[:5000],
                suspended_by=suspension.actor if suspension else None,
                suspension_reason=agent.status_reason,
            )
    except IntegrityError as exc:
        raise DomainError("appeal_pending", "You have an appeal waiting for a decision already.") from exc
    # The appeal's text stays on the appeal (pseudonymisation rewrites it there); the log points to it.
    audit_record(actor=agent.user, action="agent.appealed", subject=agent, data={"appeal": str(appeal.pk)})
    events.send_to_supervisors_on_commit(
        {
            "type": "appeal",
            "id": str(appeal.pk),
            "agent_id": str(agent.pk),
            "message": f"{agent.display_name} appealed their suspension.",
        }
    )
    return appeal


APPEAL_DECISIONS = {"reinstate": SuspensionAppeal.Status.REINSTATED, "uphold": SuspensionAppeal.Status.UPHELD}


@transaction.atomic(durable=True)
def appeal_decide(*, appeal_id, actor, decision: str, reason: str) -> SuspensionAppeal:
    """Decide an appeal: "reinstate" (the agent is active again) or "uphold" (the suspension stands).

    Four eyes: the supervisor who suspended may not decide the appeal (403, with the reason). A reason
    is required and the agent is told it. Deciding is a conditional UPDATE from pending, so two
    supervisors deciding at once cannot both win.
    """

    if decision not in APPEAL_DECISIONS:
        raise InvalidInput({"decision": ['Choose "reinstate" or "uphold".']})
    reason = _require_reason(reason, what="the agent is told it")
    appeal = SuspensionAppeal.objects.select_related("agent").filter(pk=appeal_id).first()
    if appeal is None:
        raise NotFound("No such appeal.")
    if appeal.suspended_by_id is not None and appeal.suspended_by_id == actor.pk:
        raise Forbidden(
            "four_eyes",
            "You suspended this agent, so another supervisor must decide the appeal.",
        )
    decided = SuspensionAppeal.objects.filter(pk=appeal.pk, status=SuspensionAppeal.Status.PENDING).update(
        status=APPEAL_DECISIONS[decision], decided_by=actor, decided_at=timezone.now(), decision_reason=reason
    )
    if not decided:
        raise DomainError("appeal_decided", "This appeal has been decided already.")
    appeal.refresh_from_db()
    agent = appeal.agent
    if decision == "reinstate":
        agent_reinstate(agent=agent, actor=actor, reason=f"Appeal granted: {reason}")
    else:
        events.send_to_agent_on_commit(
            agent.pk, {"type": "appeal_decided", "appeal_id": str(appeal.pk), "decision": "upheld", "reason": reason}
        )
    audit_record(
        actor=actor, action=f"appeal.{appeal.status}", subject=agent, reason=reason, data={"appeal": str(appeal.pk)}
    )
    return appeal
