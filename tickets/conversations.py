"""The bot's own conversations (CONTRACT.md "The hybrid loop"): reported by the bot platform, each
contained, escalated or abandoned, and linked to its escalations by `Ticket.conversation_id`.

Writes and reads of conversations live here, apart from the escalation intake in services.py.
"""

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from core.errors import InvalidInput, NotFound
from tickets.models import Conversation, Ticket


def _existing(integration, external_id: str) -> Conversation | None:
    return Conversation.objects.filter(integration=integration, external_id=external_id).first()


@transaction.atomic
def conversation_report(
    *,
    integration,
    external_id: str,
    language: str,
    outcome: str,
    started_at,
    topic: str = "",
    csat: int | None = None,
    ended_at=None,
    customer_ref: str = "",
) -> tuple[Conversation, bool]:
    """Record a conversation the bot handled, or update the one reported before: (conversation, created).

    One row per (integration, external_id): the unique constraint decides when identical reports race
    (the loser's insert rolls back its savepoint and updates the winner's row). A report again updates
    outcome and CSAT (and the end, topic and customer when given); its end must not be before the start
    first reported (400 naming `ended_at`, nothing changed).
    """
    conversation = _existing(integration, external_id)
    if conversation is None:
        conversation = Conversation(
            integration=integration,
            external_id=external_id,
            language=language,
            outcome=outcome,
            topic=topic,
            csat=csat,
            customer_ref=customer_ref,
            started_at=started_at,
            ended_at=ended_at,
        )
        try:
            with transaction.atomic():
                conversation.save(force_insert=True)
            return conversation, True
        except IntegrityError:
            conversation = _existing(integration, external_id)
            if conversation is None:
                raise
    if ended_at is not None and ended_at < conversation.started_at:
        raise InvalidInput({"ended_at": ["The end is before the conversation's start as first reported."]})
    changes = {"outcome": outcome, "csat": csat}
    if ended_at is not None:
        changes["ended_at"] = ended_at
    if topic:
        changes["topic"] = topic
    if customer_ref:
        changes["customer_ref"] = customer_ref
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    conversation.refresh_from_db()
    return conversation, False


def conversation_id_check(*, integration, conversation_id: str) -> None:
    """An escalation may name only its own integration's conversations: a `conversation_id` that only
    another integration reported is refused (400 naming the field), so no escalation is ever linked
    across bot platforms."""
    if not conversation_id:
        return
    mine = Conversation.objects.filter(integration=integration, external_id=conversation_id)
    if mine.exists():
        return
    if Conversation.objects.filter(external_id=conversation_id).exclude(integration=integration).exists():
        raise InvalidInput({"conversation_id": ["This conversation belongs to another integration."]})


def conversation_get(*, integration, conversation_id) -> Conversation:
    """The integration's own conversation by id; another integration's is not found (404)."""
    conversation = Conversation.objects.filter(integration=integration, pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def conversation_escalations(*, conversation: Conversation) -> QuerySet[Ticket]:
    return Ticket.objects.filter(
        integration_id=conversation.integration_id, conversation_id=conversation.external_id
    ).order_by("created_at", "id")


def conversation_payload(conversation: Conversation) -> dict:
    return {
        "id": str(conversation.id),
        "external_id": conversation.external_id,
        "language": conversation.language,
        "outcome": conversation.outcome,
        "topic": conversation.topic,
        "csat": conversation.csat,
        "customer_ref": conversation.customer_ref,
        "started_at": conversation.started_at,
        "ended_at": conversation.ended_at,
        "escalations": [
            {"id": str(t.id), "external_id": t.external_id, "status": t.status, "created_at": t.created_at}
            for t in conversation_escalations(conversation=conversation)
        ],
    }


def earlier_escalations(*, ticket: Ticket) -> list[dict]:
    """The escalations of the ticket's conversation that came before it, oldest first, as the agent
    reads them: what happened and who served it (a display name; never a colleague's id or score)."""
    if not ticket.conversation_id:
        return []
    earlier = (
        Ticket.objects.filter(integration_id=ticket.integration_id, conversation_id=ticket.conversation_id)
        .filter(created_at__lte=ticket.created_at)
        .exclude(pk=ticket.pk)
        .select_related("assigned_agent")
        .order_by("created_at", "id")
    )
    return [earlier_escalation_payload(t) for t in earlier]


def earlier_escalation_payload(ticket: Ticket) -> dict:
    """One earlier escalation as the agent reads it (the ticket's holder as a display name only)."""
    return {
        "id": str(ticket.id),
        "external_id": ticket.external_id,
        "created_at": ticket.created_at,
        "status": ticket.status,
        "summary": ticket.summary,
        "outcome": ticket.outcome,
        "resolution_notes": ticket.resolution_notes,
        "agent": {"display_name": ticket.assigned_agent.display_name} if ticket.assigned_agent_id else None,
    }
