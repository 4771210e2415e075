"""Reads of the tickets app: who may see a ticket, where it is in the queue, what it looks like."""

import datetime as dt
import math
import time

from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from agents.models import Skill
from tickets.conversations import earlier_escalation_payload, earlier_escalations
from tickets.models import (
    CannedResponse,
    Message,
    SkillKeywordRule,
    Ticket,
    TicketNote,
    TicketSkill,
    TicketStatus,
    WebhookDelivery,
)
from tickets.triage import DEFAULT_SKILL_KEYWORDS

THROUGHPUT_WINDOW = dt.timedelta(minutes=15)


def ticket_queryset() -> QuerySet[Ticket]:
    return Ticket.objects.select_related("assigned_agent", "integration").prefetch_related(
        Prefetch("required_skills", queryset=TicketSkill.objects.select_related("skill").order_by("skill__code")),
        Prefetch("messages", queryset=Message.objects.order_by("seq")),
    )


def ticket_queue_position(*, ticket: Ticket) -> int | None:
    """1-based place among queued tickets, in dispatch order: priority descending, then queued_at, then id."""
    if ticket.status != TicketStatus.QUEUED:
        return None
    ahead = Ticket.objects.filter(status=TicketStatus.QUEUED).filter(
        Q(priority__gt=ticket.priority)
        | Q(priority=ticket.priority, queued_at__lt=ticket.queued_at)
        | Q(priority=ticket.priority, queued_at=ticket.queued_at, id__lt=ticket.id)
    )
    return ahead.count() + 1


# At a busy moment the window holds tens of thousands of assignments, and every intake and queued
# ticket's GET would count them again. Above this many, the count is reused for a few seconds (the
# estimate it feeds is a rough one anyway); below, it is counted every time.
THROUGHPUT_COUNT_EXACT_BELOW = 1000
THROUGHPUT_COUNT_SECONDS = 5.0
_throughput_shared: list = []  # [(monotonic time, count)] while shared


def recent_assignments(*, now: dt.datetime | None = None) -> int:
    """Tickets assigned in the last THROUGHPUT_WINDOW."""
    if now is None and _throughput_shared and time.monotonic() - _throughput_shared[0][0] < THROUGHPUT_COUNT_SECONDS:
        return _throughput_shared[0][1]
    count = Ticket.objects.filter(assigned_at__gte=(now or timezone.now()) - THROUGHPUT_WINDOW).count()
    _throughput_shared[:] = [(time.monotonic(), count)] if count >= THROUGHPUT_COUNT_EXACT_BELOW else []
    return count


def estimated_wait_seconds(*, queue_position: int | None, assignments_in_window: int) -> int | None:
    """How long until a human picks the ticket up, from recent throughput.

    estimate = queue_position x (900 s / assignments in the last 15 minutes), rounded up: at the pace of
    the last quarter hour, the tickets ahead and this one are assigned one after another. Null when
    nothing was assigned in that window (no basis for an estimate) or the ticket is not queued.
    """
    if queue_position is None or assignments_in_window <= 0:
        return None
    return math.ceil(queue_position * THROUGHPUT_WINDOW.total_seconds() / assignments_in_window)


def ticket_payload(ticket: Ticket) -> dict:
    """The ticket as GET /api/v1/tickets/{id}/ shows it (see serializers.TicketOutSerializer)."""
    position = ticket_queue_position(ticket=ticket)
    wait = estimated_wait_seconds(
        queue_position=position, assignments_in_window=recent_assignments() if position is not None else 0
    )
    agent = ticket.assigned_agent if ticket.status in ("assigned", "resolved", "handed_back") else None
    return {
        "id": str(ticket.id),
        "external_id": ticket.external_id,
        "status": ticket.status,
        "created_at": ticket.created_at,
        "queued_at": ticket.queued_at,
        "first_offered_at": ticket.first_offered_at,
        "assigned_at": ticket.assigned_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "customer": {
            "ref": ticket.customer_ref,
            "display_name": ticket.customer_display_name,
            "tier": ticket.customer_tier,
            "vulnerable": ticket.customer_vulnerable,
        },
        "language": ticket.language,
        "reason": ticket.reason,
        "priority": ticket.priority,
        "priority_was_derived": ticket.priority_was_derived,
        "sentiment": float(ticket.sentiment) if ticket.sentiment is not None else None,
        "summary": ticket.summary,
        "handoff": ticket.handoff,
        "skills": [{"code": row.skill.code, "min_level": row.min_level} for row in ticket.required_skills.all()],
        "skills_were_inferred": ticket.skills_were_inferred,
        "skill_inference": ticket.skill_inference,
        "queue_position": position,
        "estimated_wait_seconds": wait,
        "agent": {"display_name": agent.display_name} if agent is not None else None,
        "outcome": ticket.outcome,
        "resolution_notes": ticket.resolution_notes,
        "bot_feedback": ticket.bot_feedback,
        "csat": (
            {"score": ticket.csat_score, "comment": ticket.csat_comment, "at": ticket.csat_at}
            if ticket.csat_score is not None
            else None
        ),
        "messages": [message_payload(message) for message in ticket.messages.all()],
        "conversation_id": ticket.conversation_id,
        "topic": ticket.topic,
        "earlier_escalations": earlier_escalations(ticket=ticket),
    }


def ticket_created_payload(ticket: Ticket) -> dict:
    """The intake's answer: the full ticket (it is small right after intake)."""
    return ticket_payload(ticket)


def tickets_with_offer_payload(tickets) -> None:
    """Read what ticket_offer_payload needs of many tickets in two queries (skills, messages), and a third
    when some belong to a conversation escalated before (their earlier escalations)."""
    tickets = list(tickets)
    prefetch_related_objects(
        tickets,
        Prefetch("required_skills", queryset=TicketSkill.objects.select_related("skill").order_by("skill__code")),
        Prefetch("messages", queryset=Message.objects.order_by("seq")),
    )
    linked = [t for t in tickets if t.conversation_id]
    for ticket in tickets:
        ticket.earlier_escalations_read = []
    if linked:
        same_conversation = Q()
        for integration_id, conversation_id in {(t.integration_id, t.conversation_id) for t in linked}:
            same_conversation |= Q(integration_id=integration_id, conversation_id=conversation_id)
        rows = list(
            Ticket.objects.filter(same_conversation).select_related("assigned_agent").order_by("created_at", "id")
        )
        for ticket in linked:
            ticket.earlier_escalations_read = [
                earlier_escalation_payload(row)
                for row in rows
                if (row.integration_id, row.conversation_id) == (ticket.integration_id, ticket.conversation_id)
                and row.pk != ticket.pk
                and row.created_at <= ticket.created_at
            ]


def ticket_offer_payload(ticket: Ticket) -> dict:
    """The dossier in an offer frame: everything the bot handed over, as the agent sees it before
    accepting (ticket_payload is the ticket as the REST API shows it)."""
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
            # Message's default ordering is by seq, so a prefetch (tickets_with_offer_payload) serves this.
            {"role": m.author_kind, "text": m.text, "at": m.at.isoformat()}
            for m in ticket.messages.all()
        ],
        "queued_at": ticket.queued_at.isoformat(),
        "earlier_escalations": [
            {**e, "created_at": e["created_at"].isoformat()}
            for e in (
                ticket.earlier_escalations_read
                if hasattr(ticket, "earlier_escalations_read")
                else earlier_escalations(ticket=ticket)
            )
        ],
    }


def message_payload(message: Message) -> dict:
    return {
        "id": str(message.id),
        "seq": message.seq,
        "author_kind": message.author_kind,
        "text": message.text,
        "at": message.at,
    }


def webhook_delivery_list(*, ticket_id=None, limit: int = 200) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.order_by("-created_at", "-seq")
    if ticket_id is not None:
        deliveries = WebhookDelivery.objects.filter(ticket_id=ticket_id).order_by("seq")
    return deliveries[:limit]


def coaching_tickets(*, closed_from: dt.datetime, closed_to: dt.datetime) -> QuerySet[Ticket]:
    """Finished tickets (resolved or handed back) closed in [closed_from, closed_to), oldest first."""
    return (
        ticket_queryset()
        .filter(
            status__in=[TicketStatus.RESOLVED, TicketStatus.HANDED_BACK],
            closed_at__gte=closed_from,
            closed_at__lt=closed_to,
        )
        .order_by("closed_at", "id")
    )


def coaching_record(ticket: Ticket) -> dict:
    """One JSON Lines record of the bot-coaching export: what the bot saw and did, what the human did."""
    messages = list(ticket.messages.all())
    return {
        "ticket_id": str(ticket.id),
        "external_id": ticket.external_id,
        "integration": ticket.integration.name,
        "created_at": ticket.created_at.isoformat(),
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
        "status": ticket.status,
        "language": ticket.language,
        "conversation_id": ticket.conversation_id,
        "topic": ticket.topic,
        "reason": ticket.reason,
        "priority": ticket.priority,
        "priority_was_derived": ticket.priority_was_derived,
        "sentiment": float(ticket.sentiment) if ticket.sentiment is not None else None,
        "skills": [row.skill.code for row in ticket.required_skills.all()],
        "skills_were_inferred": ticket.skills_were_inferred,
        "skill_inference": ticket.skill_inference,
        "bot_summary": ticket.summary,
        "handoff": ticket.handoff,
        # The conversation the bot handed over, then everything said after the hand-over.
        "transcript": [
            {"role": m.author_kind, "text": m.text, "at": m.at.isoformat()}
            for m in messages
            if m.seq <= ticket.handoff_transcript_length
        ],
        "after_handoff": [
            {"role": m.author_kind, "text": m.text, "at": m.at.isoformat()}
            for m in messages
            if m.seq > ticket.handoff_transcript_length
        ],
        "outcome": ticket.outcome,
        "resolution_notes": ticket.resolution_notes,
        "bot_feedback": ticket.bot_feedback,
        "csat": {"score": ticket.csat_score, "comment": ticket.csat_comment} if ticket.csat_score else None,
    }


def skill_keyword_rules_list() -> list[dict]:
    """Every skill's keywords as the intake uses them: configured by a supervisor, or the default."""

    configured = {rule.skill_id: rule for rule in SkillKeywordRule.objects.all()}
    rules = []
    for skill in Skill.objects.order_by("code"):
        rule = configured.get(skill.pk)
        if rule is not None:
            rules.append(
                {"skill": skill.code, "keywords": rule.keywords, "source": "configured", "updated_at": rule.updated_at}
            )
        else:
            keywords = DEFAULT_SKILL_KEYWORDS.get(skill.code, [])
            rules.append({"skill": skill.code, "keywords": keywords, "source": "default", "updated_at": None})
    return rules


def skill_keyword_rules_in_force() -> dict[str, list[str]]:
    return {rule["skill"]: rule["keywords"] for rule in skill_keyword_rules_list() if rule["keywords"]}


# ---------------------------------------------------------------- the agent's workspace: notes, history, canned

HISTORY_DAYS = 90
HISTORY_LIMIT = 20


def _author_name(user) -> str:
    agent = getattr(user, "agent", None)
    return agent.display_name if agent is not None else user.get_username()


def note_payload(note: TicketNote) -> dict:
    """A note as agents and supervisors read it: the author by display name and role, never an id."""
    return {
        "id": str(note.id),
        "author": {"display_name": _author_name(note.author), "role": note.author.role},
        "text": note.text,
        "at": note.at,
    }


def ticket_notes(*, ticket: Ticket) -> list[dict]:
    notes = TicketNote.objects.filter(ticket=ticket).select_related("author__agent").order_by("at", "id")
    return [note_payload(note) for note in notes]


def customer_history(*, ticket: Ticket, now=None) -> list[dict]:
    """The same customer's earlier tickets (same integration and customer ref, last HISTORY_DAYS days),
    newest first, with outcome, the agent's display name and the notes left on them."""
    now = now or timezone.now()
    earlier = (
        Ticket.objects.filter(
            integration_id=ticket.integration_id,
            customer_ref=ticket.customer_ref,
            created_at__gte=now - dt.timedelta(days=HISTORY_DAYS),
            created_at__lte=ticket.created_at,
        )
        .exclude(pk=ticket.pk)
        .select_related("assigned_agent")
        .prefetch_related(Prefetch("notes", queryset=TicketNote.objects.select_related("author__agent")))
        .order_by("-created_at")[:HISTORY_LIMIT]
    )
    return [
        {
            "id": str(t.pk),
            "created_at": t.created_at,
            "status": t.status,
            "outcome": t.outcome,
            "summary": t.summary,
            "language": t.language,
            "agent": {"display_name": t.assigned_agent.display_name} if t.assigned_agent_id else None,
            "resolution_notes": t.resolution_notes,
            "notes": [note_payload(note) for note in t.notes.all()],
        }
        for t in earlier
    ]


def canned_response_list(*, user, language: str | None = None) -> QuerySet[CannedResponse]:
    """An agent: the shared ones and their own; a supervisor: the shared ones. Optionally of `language`."""
    responses = CannedResponse.objects.all()
    if user.role == "supervisor":
        responses = responses.filter(owner__isnull=True)
    else:
        responses = responses.filter(Q(owner__isnull=True) | Q(owner__user=user))
    if language:
        responses = responses.filter(language=language)
    return responses.order_by("owner", "title", "id")


def canned_fill(text: str, *, ticket: Ticket | None, agent_name: str) -> str:
    """The text with {customer_name} and {agent_name} filled in (the customer's as the bot named them)."""
    customer = (ticket.customer_display_name if ticket is not None else "") or ""
    return text.replace("{customer_name}", customer).replace("{agent_name}", agent_name)
