"""The coaching view: what the agents told the bot team, grouped by topic and escalation reason, with a
few example tickets each; a supervisor marks a group "sent to the bot team" (audited).

A ticket is in the view when it was closed in the period (resolved or handed back) and its agent left
bot feedback. Its topic is its own, else its conversation's. The full records of a period are the
JSON Lines coaching export (GET /api/v1/coaching-export.jsonl).
"""

import datetime as dt
from collections import defaultdict

from django.db import transaction

from core.audit import audit_record
from core.errors import InvalidInput
from tickets.models import (
    CoachingGroupSent,
    Conversation,
    EscalationReason,
    Message,
    Ticket,
    TicketStatus,
)

EXAMPLES_PER_GROUP = 3
EXCERPT_CHARS = 160


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _feedback_tickets(*, period_from: dt.datetime, period_to: dt.datetime) -> list[Ticket]:
    tickets = list(
        Ticket.objects.filter(
            status__in=[TicketStatus.RESOLVED, TicketStatus.HANDED_BACK],
            closed_at__gte=period_from,
            closed_at__lt=period_to,
        )
        .exclude(bot_feedback={})
        .only(
            "id",
            "external_id",
            "integration_id",
            "conversation_id",
            "topic",
            "reason",
            "status",
            "outcome",
            "resolution_notes",
            "bot_feedback",
            "closed_at",
        )
        .order_by("-closed_at", "id")
    )
    missing = {(t.integration_id, t.conversation_id) for t in tickets if not t.topic and t.conversation_id}
    topics = {}
    if missing:
        rows = Conversation.objects.filter(
            integration_id__in={k[0] for k in missing}, external_id__in={k[1] for k in missing}
        ).values_list("integration_id", "external_id", "topic")
        topics = {(i, e): topic for i, e, topic in rows}
    for ticket in tickets:
        ticket.group_topic = ticket.topic or topics.get((ticket.integration_id, ticket.conversation_id), "")
    return tickets


def coaching_groups(*, period_from: dt.datetime, period_to: dt.datetime) -> list[dict]:
    """The groups of the period, those with the most escalations marked avoidable first."""
    grouped = defaultdict(list)
    for ticket in _feedback_tickets(period_from=period_from, period_to=period_to):
        grouped[(ticket.group_topic, ticket.reason)].append(ticket)
    examples = [t for group in grouped.values() for t in group[:EXAMPLES_PER_GROUP]]
    first_words: dict = {}
    if examples:
        rows = Message.objects.filter(
            ticket_id__in=[t.pk for t in examples], author_kind=Message.AuthorKind.CUSTOMER
        ).order_by("ticket_id", "seq")
        for message in rows.only("ticket_id", "text", "seq"):
            first_words.setdefault(message.ticket_id, message.text)
    sent = {}
    for mark in CoachingGroupSent.objects.select_related("sent_by").order_by("sent_at"):
        sent[(mark.topic, mark.reason)] = mark
    groups = []
    for (topic, reason), tickets in grouped.items():
        mark = sent.get((topic, reason))
        groups.append(
            {
                "topic": topic,
                "reason": reason,
                "tickets": len(tickets),
                "avoidable": sum(1 for t in tickets if t.bot_feedback.get("escalation_avoidable") is True),
                "examples": [
                    {
                        "id": str(t.pk),
                        "external_id": t.external_id,
                        "excerpt": _excerpt(first_words.get(t.pk, "")),
                        "status": t.status,
                        "outcome": t.outcome,
                        "notes": _excerpt(t.resolution_notes, 240),
                        "comment": _excerpt(t.bot_feedback.get("comment", "") or "", 240),
                        "avoidable": t.bot_feedback.get("escalation_avoidable"),
                    }
                    for t in tickets[:EXAMPLES_PER_GROUP]
                ],
                "sent": (
                    {"by": mark.sent_by.get_username(), "at": mark.sent_at, "tickets": mark.tickets}
                    if mark is not None
                    else None
                ),
                "new_since_sent": (
                    sum(1 for t in tickets if t.closed_at > mark.sent_at) if mark is not None else len(tickets)
                ),
            }
        )
    groups.sort(key=lambda g: (-g["avoidable"], -g["tickets"], g["topic"], g["reason"]))
    return groups


@transaction.atomic
def coaching_group_mark_sent(
    *, topic: str, reason: str, period_from: dt.datetime, period_to: dt.datetime, actor
) -> CoachingGroupSent:
    """Record that the group (topic, reason) of the period went to the bot team, with how many tickets
    it held, in the coaching marks and the audit log. A group with no tickets is refused (400)."""
    if reason not in EscalationReason.values:
        raise InvalidInput({"reason": [f"Unknown escalation reason: {reason}."]})
    tickets = [
        t
        for t in _feedback_tickets(period_from=period_from, period_to=period_to)
        if t.group_topic == topic and t.reason == reason
    ]
    if not tickets:
        raise InvalidInput({"topic": ["No agent feedback in this group for the period."]})
    mark = CoachingGroupSent.objects.create(
        topic=topic, reason=reason, period_from=period_from, period_to=period_to, tickets=len(tickets), sent_by=actor
    )
    audit_record(
        actor=actor,
        action="coaching_group.sent_to_bot_team",
        subject=mark,
        data={
            "topic": topic,
            "reason": reason,
            "tickets": len(tickets),
            "period_from": period_from.isoformat(),
            "period_to": period_to.isoformat(),
        },
    )
    return mark
