"""Writes of the tickets app. Each entry point is one transaction and keeps the invariant in its docstring.

Status changes go through tickets.lifecycle.ticket_transition; pushes, tasks and webhooks are sent on
commit (core.events, tickets.webhooks). What a verb also does in other apps (offer the ticket, pay the
agent, withdraw offers) is composed one layer up, in actions.tickets.
"""

import re
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from agents.models import Agent, Skill
from agents.services import agent_capacity_release
from core.audit import audit_record
from core.errors import DomainError, InvalidInput, NotFound
from core.events import send_to_agent_on_commit
from tickets import triage
from tickets.conversations import conversation_id_check
from tickets.lifecycle import OPEN_STATUSES, ticket_transition
from tickets.locks import ticket_lock
from tickets.models import (
    CANNED_PLACEHOLDERS,
    CANNED_TEXT_MAX_CHARS,
    CANNED_TITLE_MAX_CHARS,
    NOTE_MAX_CHARS,
    Assignment,
    AssignmentEnd,
    CannedResponse,
    Message,
    SkillKeywordRule,
    Ticket,
    TicketNote,
    TicketSkill,
    TicketStatus,
)
from tickets.selectors import message_payload, note_payload, skill_keyword_rules_in_force
from tickets.webhooks import webhook_event_record

S = TicketStatus


class NotYourTicket(DomainError):
    def __init__(self):
        super().__init__("not_your_ticket", "Only the agent the ticket is assigned to may do this.", http_status=403)


# ---------------------------------------------------------------- intake


def _existing(integration, external_id: str) -> Ticket | None:
    return Ticket.objects.filter(integration=integration, external_id=external_id).first()


@transaction.atomic
def ticket_escalate(
    *,
    integration,
    external_id: str,
    customer: dict,
    language: str,
    reason: str,
    skills: list[str] | None = None,
    priority: int | None = None,
    sentiment: float | None = None,
    summary: str = "",
    handoff: dict | None = None,
    transcript: list[dict] | None = None,
    default_skill_level: int = 1,
    conversation_id: str = "",
    topic: str = "",
) -> tuple[Ticket, bool]:
    """Create the ticket the bot escalated, or return the one it already sent: (ticket, created).
    Required skills get `default_skill_level` (the dispatch policy's), one more for a VIP or a vulnerable
    customer. Dispatch is the caller's to trigger (actions.tickets.ticket_escalate).

    One ticket per (integration, external_id): the unique constraint decides, also when identical
    requests race. The insert runs in a savepoint; the loser of a race gets IntegrityError, rolls back
    only its savepoint and returns the winner's ticket (under READ COMMITTED it is visible once the
    winner commits, which the loser's insert waited for). Nothing else is written for a duplicate.
    """
    existing = _existing(integration, external_id)  # a shortcut only; the constraint is the guard
    if existing is not None:
        return existing, False
    conversation_id_check(integration=integration, conversation_id=conversation_id)
    transcript = transcript or []
    handoff = handoff or {}
    tier, vulnerable = customer.get("tier", "standard"), bool(customer.get("vulnerable", False))

    skill_codes = list(dict.fromkeys(skills or []))
    inference: list[dict] = []
    if not skill_codes:
        texts = [("summary", summary)] + [(f"transcript[{i}]", entry["text"]) for i, entry in enumerate(transcript)]
        inference = [m.as_dict() for m in triage.skills_infer(rules=skill_keyword_rules_in_force(), texts=texts)]
        skill_codes = [m["skill"] for m in inference]
    skill_rows = {skill.code: skill for skill in Skill.objects.filter(code__in=skill_codes)}
    unknown = [code for code in skill_codes if code not in skill_rows]
    if unknown:
        raise InvalidInput({"skills": [f"Unknown skill code: {code}." for code in unknown]})

    priority_was_derived = priority is None
    if priority is None:
        priority = triage.priority_derive(tier=tier, vulnerable=vulnerable, reason=reason, sentiment=sentiment)
    min_level = triage.required_skill_level(base_level=default_skill_level, tier=tier, vulnerable=vulnerable)
    now = timezone.now()
    ticket = Ticket(
        integration=integration,
        external_id=external_id,
        customer_ref=customer["ref"],
        customer_display_name=customer.get("display_name", ""),
        customer_tier=tier,
        customer_vulnerable=vulnerable,
        language=language,
        reason=reason,
        priority=priority,
        priority_was_derived=priority_was_derived,
        sentiment=Decimal(str(round(sentiment, 3))) if sentiment is not None else None,
        summary=summary,
        handoff=handoff,
        skills_were_inferred=bool(inference),
        skill_inference=inference,
        created_at=now,
        queued_at=now,
        last_message_seq=len(transcript),
        handoff_transcript_length=len(transcript),
        conversation_id=conversation_id,
        topic=topic,
    )
    try:
        with transaction.atomic():
            ticket.save(force_insert=True)
    except IntegrityError:
        winner = _existing(integration, external_id)
        if winner is None:
            raise
        return winner, False
    TicketSkill.objects.bulk_create(
        [TicketSkill(ticket=ticket, skill=skill_rows[code], min_level=min_level) for code in skill_codes]
    )
    Message.objects.bulk_create(
        [
            Message(
                ticket=ticket,
                seq=index,
                author_kind=Message.AuthorKind.CUSTOMER if entry["role"] == "customer" else Message.AuthorKind.BOT,
                text=entry["text"],
                at=entry["at"],
            )
            for index, entry in enumerate(transcript, start=1)
        ]
    )
    return ticket, True


# ---------------------------------------------------------------- keyword rules


@transaction.atomic
def skill_keyword_rules_set(*, rules: list[dict], actor) -> None:
    """Replace the keywords of each skill named in `rules` (others keep theirs); recorded in the audit log."""
    codes = [rule["skill"] for rule in rules]
    skills = {skill.code: skill for skill in Skill.objects.filter(code__in=codes)}
    errors = {}
    for index, rule in enumerate(rules):
        if rule["skill"] not in skills:
            errors[str(index)] = {"skill": [f"Unknown skill code: {rule['skill']}."]}
    if len(set(codes)) != len(codes):
        errors["non_field_errors"] = ["Each skill may appear once."]
    if errors:
        raise InvalidInput({"rules": errors})
    for rule in rules:
        keywords = list(dict.fromkeys(k.strip().lower() for k in rule["keywords"] if k.strip()))
        row, _ = SkillKeywordRule.objects.update_or_create(
            skill=skills[rule["skill"]], defaults={"keywords": keywords, "updated_by": actor}
        )
        audit_record(
            actor=actor, action="skill_keywords.set", subject=row, data={"skill": rule["skill"], "keywords": keywords}
        )


# ---------------------------------------------------------------- messages


@transaction.atomic
def message_add(*, ticket: Ticket, text: str, agent: Agent | None = None) -> Message:
    """Append a message: from the customer (agent=None, via the integration) or the assigned agent's reply.

    `seq` comes from an UPDATE of the ticket row that also checks the ticket is open (and, for a reply,
    assigned to `agent`); the row stays locked until commit, so concurrent messages get consecutive
    numbers in commit order. The assigned agent's browser is told on commit; a reply also becomes a
    `ticket.message` webhook for the bot platform.
    """
    bump = {"last_message_seq": F("last_message_seq") + 1}
    if agent is None:
        updated = Ticket.objects.filter(pk=ticket.pk, status__in=OPEN_STATUSES).update(**bump)
    else:
        updated = Ticket.objects.filter(pk=ticket.pk, status=S.ASSIGNED, assigned_agent=agent).update(**bump)
    if not updated:
        current = Ticket.objects.filter(pk=ticket.pk).values_list("status", "assigned_agent_id").first()
        if agent is not None and current is not None and current[1] != agent.pk:
            raise NotYourTicket()
        raise DomainError("ticket_closed", "Messages can only be added to an open ticket.", http_status=409)
    ticket.refresh_from_db(fields=["last_message_seq", "status", "assigned_agent"])
    message = Message.objects.create(
        ticket=ticket,
        seq=ticket.last_message_seq,
        author_kind=Message.AuthorKind.CUSTOMER if agent is None else Message.AuthorKind.AGENT,
        author_agent=agent,
        text=text,
        at=timezone.now(),
    )
    if ticket.assigned_agent_id is not None and ticket.status == S.ASSIGNED:
        frame = {"type": "ticket_message", "ticket_id": str(ticket.pk), "message": _json_ready(message)}
        send_to_agent_on_commit(ticket.assigned_agent_id, frame)
    if agent is not None:
        webhook_event_record(
            ticket=ticket,
            event="ticket.message",
            data={"message": {"id": str(message.pk), "text": message.text, "at": message.at.isoformat()}},
        )
    return message


def _json_ready(message: Message) -> dict:
    payload = message_payload(message)
    return {**payload, "at": payload["at"].isoformat()}


# ---------------------------------------------------------------- holding a ticket


class TicketHeld(DomainError):
    """Somebody holds the ticket already (the open assignment's unique constraint refused a second)."""

    def __init__(self):
        super().__init__("ticket_held", "Another agent holds this ticket.", http_status=409)


def assignment_open(*, ticket: Ticket, agent_id, now, offer=None) -> Assignment:
    """`agent_id` holds `ticket` from `now`, through the accepted `offer` (its promise is kept with the
    assignment) or a supervisor's decision (no offer). The caller moved the ticket to assigned and
    claimed the agent's capacity in the same transaction; the database refuses a second open
    assignment of the ticket (TicketHeld), which rolls all of that back."""
    promise = {}
    if offer is not None:
        promise = {
            "offer_id": offer.pk,
            "pay_surge": offer.surge,
            "pay_estimate_amount": offer.pay_estimate_amount,
            "pay_estimate_currency": offer.pay_estimate_currency,
        }
    try:
        with transaction.atomic():
            return Assignment.objects.create(ticket=ticket, agent_id=agent_id, started_at=now, **promise)
    except IntegrityError as exc:
        raise TicketHeld() from exc


def assignment_end(*, ticket: Ticket, reason: str, now, wrap_up_seconds: int = 0) -> Assignment | None:
    """The holder of `ticket` stops serving the customer (`reason`, an AssignmentEnd). With
    `wrap_up_seconds` their slot stays taken until `wrap_up_until` (a resolve or hand-back, see
    assignment_release); otherwise it is free at once. Returns the assignment, None when nobody held the
    ticket. Call with the ticket row locked."""
    assignment = Assignment.objects.filter(ticket=ticket, released_at__isnull=True, ended_at__isnull=True).first()
    if assignment is None:
        return None
    wrap_up_until = now + timedelta(seconds=wrap_up_seconds) if wrap_up_seconds else None
    Assignment.objects.filter(pk=assignment.pk, ended_at__isnull=True).update(
        ended_at=now, end_reason=reason, wrap_up_until=wrap_up_until, released_at=None if wrap_up_until else now
    )
    assignment.ended_at, assignment.end_reason, assignment.wrap_up_until = now, reason, wrap_up_until
    if wrap_up_until is None:
        assignment.released_at = now
        agent_capacity_release(agent_id=assignment.agent_id)
    return assignment


def assignment_release(*, assignment_id=None, ticket_id=None, agent: Agent | None = None) -> Assignment | None:
    """End a wrap-up: the agent's slot is free and the ticket closed (closed_at: the wrap-up really taken
    is closed_at minus the end of the conversation). By the agent ("I am ready": `agent` given, their
    own ticket only) or by the timer (no `agent`: only once `wrap_up_until` has passed). A conditional
    UPDATE, so it happens once whoever comes first; None otherwise."""
    now = timezone.now()
    wrapping = Assignment.objects.filter(released_at__isnull=True, ended_at__isnull=False)
    if assignment_id is not None:
        wrapping = wrapping.filter(pk=assignment_id)
    if ticket_id is not None:
        wrapping = wrapping.filter(ticket_id=ticket_id)
    wrapping = wrapping.filter(agent=agent) if agent is not None else wrapping.filter(wrap_up_until__lte=now)
    assignment = wrapping.first()
    if assignment is None:
        return None
    if not Assignment.objects.filter(pk=assignment.pk, released_at__isnull=True).update(released_at=now):
        return None
    assignment.released_at = now
    Ticket.objects.filter(pk=assignment.ticket_id, closed_at__isnull=True).update(closed_at=now)
    agent_capacity_release(agent_id=assignment.agent_id)
    return assignment


def wrap_ups_due(*, limit: int = 500) -> list:
    """Assignments whose wrap-up time is up (their timer task was lost or is late)."""
    return list(
        Assignment.objects.filter(
            released_at__isnull=True, ended_at__isnull=False, wrap_up_until__lte=timezone.now()
        ).values_list("pk", flat=True)[:limit]
    )


def ticket_assigned_to(*, ticket_id, agent: Agent) -> Ticket:
    """The ticket, locked, if it is `agent`'s (assigned to them), else NotFound."""
    ticket = ticket_lock(ticket_id=ticket_id)
    if ticket is None or ticket.assigned_agent_id != agent.pk:
        raise NotFound("No such ticket among yours.")
    return ticket


def ticket_conversation_end(
    *, ticket: Ticket, to: str, reason: str, wrap_up_seconds: int, now, **changes
) -> Assignment | None:
    """The assigned agent ends the conversation: assigned -> `to` (resolved or handed back; 409 from any
    other status) with `changes`, and their assignment ends with `reason`, its wrap-up starting. Without
    a wrap-up the ticket is closed at once. Call with the ticket row locked (ticket_assigned_to)."""
    ticket_transition(ticket=ticket, to=to, from_statuses=[S.ASSIGNED], now=now, **changes)
    assignment = assignment_end(ticket=ticket, reason=reason, now=now, wrap_up_seconds=wrap_up_seconds)
    if not wrap_up_seconds:
        Ticket.objects.filter(pk=ticket.pk).update(closed_at=now)
        ticket.closed_at = now
    return assignment


def ticket_holder_change(
    *, ticket: Ticket, from_agent_id, to_agent_id, now, offer=None
) -> tuple[Assignment | None, Assignment]:
    """A warm transfer is accepted: the ticket stays assigned and moves from `from_agent_id` to
    `to_agent_id`. The sender's assignment ends ("transferred", their slot free at once) and the
    receiver's opens. A conditional UPDATE on (assigned, held by the sender), so a ticket that moved on
    meanwhile (cancelled, resolved, requeued) refuses with NotYourTicket-like 409 (TicketHeld) and the
    caller's transaction rolls back. The receiver's capacity is the caller's to claim. Call with the
    ticket row locked. Returns (the sender's ended assignment, the receiver's new one)."""
    moved = Ticket.objects.filter(pk=ticket.pk, status=S.ASSIGNED, assigned_agent_id=from_agent_id).update(
        assigned_agent_id=to_agent_id
    )
    if not moved:
        raise TicketHeld()
    ended = assignment_end(ticket=ticket, reason=AssignmentEnd.TRANSFERRED, now=now)
    ticket.assigned_agent_id = to_agent_id
    return ended, assignment_open(ticket=ticket, agent_id=to_agent_id, now=now, offer=offer)


def ticket_cancel(*, ticket: Ticket, now) -> int | None:
    """The customer left: the ticket is cancelled, and whoever held it stops at once (no wrap-up: there is
    nobody to write to). Returns the previous holder's id. Call with the ticket row locked; the caller
    withdraws the open offers (actions.tickets.ticket_cancel)."""
    holder_id = ticket.assigned_agent_id if ticket.status == S.ASSIGNED else None
    ticket_transition(ticket=ticket, to=S.CANCELLED, now=now)
    if holder_id is not None:
        assignment_end(ticket=ticket, reason=AssignmentEnd.CANCELLED, now=now)
    return holder_id


def ticket_csat_record(*, ticket: Ticket, score: int, comment: str = "") -> Ticket:
    """The customer's rating, once per ticket, of a ticket a human handled (409 otherwise).

    The conditional UPDATE (csat_score still empty) makes the second rating lose even when two race.
    The agent's CSAT counters (used by ranking) move in the same transaction; the caller pays the
    quality bonus (actions.tickets.ticket_csat_record).
    """
    updated = Ticket.objects.filter(pk=ticket.pk, csat_score__isnull=True, assigned_agent__isnull=False).update(
        csat_score=score, csat_comment=comment, csat_at=timezone.now()
    )
    if not updated:
        if Ticket.objects.filter(pk=ticket.pk, csat_score__isnull=False).exists():
            raise DomainError("csat_already_recorded", "This ticket has a CSAT score already.", http_status=409)
        raise DomainError("ticket_not_served", "No agent has handled this ticket yet.", http_status=409)
    ticket.refresh_from_db(fields=["csat_score", "csat_comment", "csat_at", "assigned_agent"])
    Agent.objects.filter(pk=ticket.assigned_agent_id).update(
        csat_sum=F("csat_sum") + score, csat_count=F("csat_count") + 1
    )
    return ticket


# ---------------------------------------------------------------- internal notes


@transaction.atomic
def note_add(*, ticket: Ticket, author, text: str) -> TicketNote:
    """An internal note on `ticket` by its holder (while serving it or in the wrap-up after) or by a
    supervisor (any ticket). A supervisor's note on a live ticket reaches the holder at once (a `note`
    frame). Notes are never sent to the bot platform. Refused: empty or over NOTE_MAX_CHARS (400), an
    agent who does not hold the ticket (404)."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput({"text": ["A note needs some text."]})
    if len(text) > NOTE_MAX_CHARS:
        raise InvalidInput({"text": [f"A note is at most {NOTE_MAX_CHARS} characters."]})
    is_supervisor = author.role == "supervisor"
    if not is_supervisor:
        agent = getattr(author, "agent", None)
        holds = (
            agent is not None
            and ticket.assigned_agent_id == agent.pk
            and (ticket.status == S.ASSIGNED or (ticket.status in (S.RESOLVED, S.HANDED_BACK) and not ticket.closed_at))
        )
        if not holds:
            raise NotFound("No such ticket among yours.")
    note = TicketNote.objects.create(ticket=ticket, author=author, text=text, at=timezone.now())
    if is_supervisor and ticket.status == S.ASSIGNED and ticket.assigned_agent_id is not None:
        payload = note_payload(note)
        send_to_agent_on_commit(
            ticket.assigned_agent_id,
            {"type": "note", "ticket_id": str(ticket.pk), "note": {**payload, "at": payload["at"].isoformat()}},
        )
    return note


# ---------------------------------------------------------------- canned responses

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _canned_values(*, title: str | None, text: str | None) -> dict:
    problems: dict = {}
    values = {}
    if title is not None:
        title = title.strip()
        if not title or len(title) > CANNED_TITLE_MAX_CHARS:
            problems["title"] = [f"A title of 1 to {CANNED_TITLE_MAX_CHARS} characters."]
        values["title"] = title
    if text is not None:
        if not text.strip() or len(text) > CANNED_TEXT_MAX_CHARS:
            problems["text"] = [f"A text of 1 to {CANNED_TEXT_MAX_CHARS} characters."]
        unknown = sorted({name for name in PLACEHOLDER.findall(text) if name not in CANNED_PLACEHOLDERS})
        if unknown:
            known = " and ".join("{" + name + "}" for name in CANNED_PLACEHOLDERS)
            problems.setdefault("text", []).append(
                f"Unknown placeholder {', '.join('{' + name + '}' for name in unknown)}: only {known} are filled in."
            )
        values["text"] = text
    if problems:
        raise InvalidInput(problems)
    return values


def _canned_owned_by(*, response_id, user) -> CannedResponse:
    """The canned response `user` may change: a supervisor the shared ones, an agent their own."""
    responses = CannedResponse.objects.filter(pk=response_id)
    if user.role == "supervisor":
        responses = responses.filter(owner__isnull=True)
    else:
        responses = responses.filter(owner__user=user)
    response = responses.first()
    if response is None:
        raise NotFound("No such canned response of yours.")
    return response


@transaction.atomic
def canned_response_create(*, user, language: str, title: str, text: str) -> CannedResponse:
    """A supervisor's shared canned response (for every agent of `language`), or an agent's own."""
    values = _canned_values(title=title, text=text)
    owner = None if user.role == "supervisor" else user.agent
    response = CannedResponse.objects.create(owner=owner, language=language, created_by=user, **values)
    audit_record(actor=user, action="canned_response.created", subject=response, data={"shared": owner is None})
    return response


@transaction.atomic
def canned_response_update(*, response_id, user, **changes) -> CannedResponse:
    response = _canned_owned_by(response_id=response_id, user=user)
    values = _canned_values(title=changes.get("title"), text=changes.get("text"))
    if changes.get("language"):
        values["language"] = changes["language"]
    for name, value in values.items():
        setattr(response, name, value)
    response.save()
    return response


@transaction.atomic
def canned_response_delete(*, response_id, user) -> None:
    response = _canned_owned_by(response_id=response_id, user=user)
    audit_record(actor=user, action="canned_response.deleted", subject=response, data={"title": response.title})
    response.delete()
