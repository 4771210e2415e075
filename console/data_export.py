"""Everything the platform holds about one agent, as one JSON document (the agent's right of access).

`agent_data_export(agent=...)` reads; `export_json_chunks(export)` writes it out piece by piece. The
sections that grow with the agent's working life (offers, tickets, pay lines, audit entries) are
generators over `.iterator()` querysets, so an agent with years of pay lines is streamed, never held
in memory as model instances. Call `export_json_chunks` once: a generator is spent after one pass.

What is left out on purpose: customer identifiers (`customer_ref`) and the bot's transcript before
the hand-over are the customer's data, not the agent's; the conversation the agent took part in is in.
Other people appear only as the username that acted (a supervisor who certified a skill, the actor
of an audit entry), which is what the agent needs to understand a decision about them.
"""

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from types import GeneratorType

from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, User
from core.audit import audit_actor_name
from core.models import AuditEntry
from dispatch.models import Offer, OfferStatus, SupervisorAlert
from dispatch.serializers import decision_for_agent
from payouts.models import EarningsPeriodClose, PayLine, PayoutItem, TicketPay
from tickets.models import CannedResponse, Message, Ticket, TicketNote

EXPORT_FORMAT_VERSION = 1
CHUNK_ROWS = 500


def _when(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(amount: Decimal | None, currency: str) -> dict | None:
    return None if amount is None else {"amount": f"{amount:.2f}", "currency": currency}


def _profile(agent: Agent) -> dict:
    user = agent.user
    return {
        "agent_id": str(agent.pk),
        "username": user.username,
        "display_name": agent.display_name,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined": _when(user.date_joined),
        "last_login": _when(user.last_login),
        "status": agent.status,
        "status_reason": agent.status_reason,
        "max_concurrent": agent.max_concurrent,
        "created_at": _when(agent.created_at),
        "pseudonymised_at": _when(agent.pseudonymised_at),
        "languages": sorted(agent.language_rows.values_list("code", flat=True)),
        "skills": [
            {
                "code": row.skill.code,
                "name": row.skill.name,
                "level": row.level,
                "certified_by": row.certified_by.username if row.certified_by else None,
                "certified_at": _when(row.certified_at),
            }
            for row in agent.skill_levels.select_related("skill", "certified_by").order_by("skill__code")
        ],
        # In full: this is the agent's own account (everyone else is shown mask_iban()).
        "payout_details": {
            "holder": agent.payout_holder,
            "iban": agent.payout_iban,
            "bic": agent.payout_bic,
            "address": {
                "street": agent.payout_street,
                "postcode": agent.payout_postcode,
                "town": agent.payout_town,
                "country": agent.payout_country,
            },
        },
        "notification_preferences": agent.notification_preferences,
        "statistics": {
            "offers_received": agent.offers_received,
            "missed_offers_in_row": agent.missed_offers_in_row,
            "csat_sum": agent.csat_sum,
            "csat_count": agent.csat_count,
            "last_offer_at": _when(agent.last_offer_at),
            "active_tickets": agent.active_tickets,
        },
    }


def _presence(agent: Agent) -> dict:
    return {
        "presence": agent.presence,
        "changed_at": _when(agent.presence_changed_at),
        "reason": agent.presence_reason,
        "break_until": _when(agent.break_until),
        "online_seconds_total": agent.online_seconds,
        "disconnected_at": _when(agent.disconnected_at),
        "online_intervals": [
            {"started_at": _when(i.started_at), "ended_at": _when(i.ended_at)}
            for i in agent.presence_intervals.order_by("started_at").iterator(chunk_size=CHUNK_ROWS)
        ],
        "open_connections": [
            {"connected_at": _when(c.connected_at), "last_seen_at": _when(c.last_seen_at)}
            for c in agent.connections.order_by("connected_at")
        ],
    }


def _notes_written(agent: Agent) -> list[dict]:
    """Internal notes the agent wrote on tickets (issue 17)."""
    return [
        {"ticket_id": str(note.ticket_id), "text": note.text, "at": _when(note.at)}
        for note in TicketNote.objects.filter(author_id=agent.user_id).order_by("at")
    ]


def _canned_responses(agent: Agent) -> list[dict]:
    """The agent's own canned responses."""
    return [
        {"id": str(r.pk), "title": r.title, "text": r.text, "language": r.language, "updated_at": _when(r.updated_at)}
        for r in CannedResponse.objects.filter(owner=agent).order_by("title")
    ]


def _offers(agent: Agent) -> Iterator[dict]:

    offers = Offer.objects.filter(agent=agent).select_related("policy").order_by("created_at", "pk")
    for offer in offers.iterator(chunk_size=CHUNK_ROWS):
        yield {
            "id": str(offer.pk),
            "ticket_id": str(offer.ticket_id),
            "status": offer.status,
            "created_at": _when(offer.created_at),
            "expires_at": _when(offer.expires_at),
            "delivered_at": _when(offer.delivered_at),
            "answered_at": _when(offer.answered_at),
            "decline_reason": offer.decline_reason,
            "withdraw_reason": offer.withdraw_reason,
            "surge": f"{offer.surge:.2f}",
            "pay_estimate": {
                **_money(offer.pay_estimate_amount, offer.pay_estimate_currency),
                "detail": offer.pay_estimate_detail,
            },
            "why": offer.why,
            # Their own score and reasons: the same view as the offer API gives them, no colleague in it.
            "decision": decision_for_agent(offer.decision, agent_id=agent.pk),
            "policy_version": offer.policy.version,
        }


def _tickets_held(agent: Agent):
    """Tickets the agent holds or held: assigned now, accepted from an offer, or written in (a supervisor
    may have moved a ticket on since)."""

    return Ticket.objects.filter(
        Q(assigned_agent=agent)
        | Q(pk__in=Offer.objects.filter(agent=agent, status=OfferStatus.ACCEPTED).values("ticket_id"))
        | Q(pk__in=Message.objects.filter(author_agent=agent).values("ticket_id"))
    ).order_by("created_at", "pk")


def _tickets(agent: Agent) -> Iterator[dict]:

    for ticket in _tickets_held(agent).iterator(chunk_size=CHUNK_ROWS):
        # The conversation after the hand-over, which the agent took part in.
        messages = Message.objects.filter(ticket=ticket, seq__gt=ticket.handoff_transcript_length).order_by("seq")
        yield {
            "id": str(ticket.pk),
            "external_id": ticket.external_id,
            "status": ticket.status,
            "held_by_you_now": ticket.assigned_agent_id == agent.pk,
            "language": ticket.language,
            "reason": ticket.reason,
            "priority": ticket.priority,
            "summary": ticket.summary,
            "customer_display_name": ticket.customer_display_name,
            "created_at": _when(ticket.created_at),
            "assigned_at": _when(ticket.assigned_at),
            "resolved_at": _when(ticket.resolved_at),
            "closed_at": _when(ticket.closed_at),
            "outcome": ticket.outcome,
            "resolution_notes": ticket.resolution_notes,
            "bot_feedback": ticket.bot_feedback,
            "csat": {"score": ticket.csat_score, "comment": ticket.csat_comment, "at": _when(ticket.csat_at)},
            "messages": [
                {
                    "seq": m.seq,
                    "from": "you" if m.author_agent_id == agent.pk else m.author_kind,
                    "text": m.text,
                    "at": _when(m.at),
                }
                for m in messages.iterator(chunk_size=CHUNK_ROWS)
            ],
        }


def _pay_lines(agent: Agent) -> Iterator[dict]:

    lines = PayLine.objects.filter(agent=agent).select_related("payout__item__batch").order_by("created_at", "pk")
    for line in lines.iterator(chunk_size=CHUNK_ROWS):
        payout = getattr(line, "payout", None)
        yield {
            "id": str(line.pk),
            "ticket_id": str(line.ticket_id) if line.ticket_id else None,
            "kind": line.kind,
            **_money(line.amount, line.currency),
            "explanation": line.explanation,
            "inputs": line.inputs,
            "reason": line.reason,
            "period_start": _when(line.period_start),
            "created_at": _when(line.created_at),
            "paid_in_batch": str(payout.item.batch_id) if payout else None,
        }


def _pay_computations(agent: Agent) -> Iterator[dict]:

    for pay in TicketPay.objects.filter(agent=agent).order_by("work_ended_at").iterator(chunk_size=CHUNK_ROWS):
        yield {
            "ticket_id": str(pay.ticket_id),
            "estimate": _money(pay.estimate_amount, pay.currency),
            "actual": _money(pay.actual_amount, pay.currency),
            "final": _money(pay.final_amount, pay.currency),
            "surge": f"{pay.surge:.2f}",
            "engaged_seconds": pay.engaged_seconds,
            "after_contact_seconds": pay.after_contact_seconds,
            "work_started_at": _when(pay.work_started_at),
            "work_ended_at": _when(pay.work_ended_at),
        }


def _earnings_periods(agent: Agent) -> list[dict]:

    return [
        {
            "period_start": _when(close.period_start),
            "period_end": _when(close.period_end),
            "earnings": _money(close.earnings, close.currency),
            "floor": _money(close.floor_amount, close.currency),
            "top_up": _money(close.topup_amount, close.currency),
            "engaged_seconds": close.engaged_seconds,
            "available_seconds": close.available_seconds,
            "closed_at": _when(close.closed_at),
        }
        for close in EarningsPeriodClose.objects.filter(agent=agent).order_by("period_start")
    ]


def _payout_items(agent: Agent) -> list[dict]:

    items = PayoutItem.objects.filter(agent=agent).select_related("batch").order_by("batch__created_at")
    return [
        {
            "batch_id": str(item.batch_id),
            "batch_status": item.batch.status,
            "period_start": _when(item.batch.period_start),
            "period_end": _when(item.batch.period_end),
            "status": item.status,
            "held_reason": item.held_reason,
            **_money(item.amount, item.currency),
            "line_count": item.line_count,
            "reference": item.reference,
            "paid_to": {"name": item.agent_name, "holder": item.holder, "iban": item.iban, "bic": item.bic},
            "paid_at": _when(item.batch.paid_at),
        }
        for item in items
    ]


def _shift_bookings(agent: Agent) -> list[dict]:
    return [
        {
            "shift_id": str(booking.shift_id),
            "starts_at": _when(booking.shift.starts_at),
            "ends_at": _when(booking.shift.ends_at),
            "hourly_guarantee": _money(booking.shift.hourly_guarantee_amount, booking.shift.hourly_guarantee_currency),
            "cancelled_at": _when(booking.shift.cancelled_at),
            "booked_at": _when(booking.booked_at),
        }
        for booking in agent.shift_bookings.select_related("shift").order_by("shift__starts_at")
    ]


def _appeals(agent: Agent) -> list[dict]:
    return [
        {
            "id": str(appeal.pk),
            "text": appeal.text,
            "submitted_at": _when(appeal.submitted_at),
            "suspension_reason": appeal.suspension_reason,
            "status": appeal.status,
            "decided_at": _when(appeal.decided_at),
            "decision_reason": appeal.decision_reason,
        }
        for appeal in agent.appeals.order_by("submitted_at")
    ]


def _alerts(agent: Agent) -> list[dict]:

    return [
        {"kind": alert.kind, "message": alert.message, "raised_at": _when(alert.raised_at)}
        for alert in SupervisorAlert.objects.filter(agent=agent).order_by("raised_at")
    ]


def audit_entries_about(agent: Agent):
    """Audit entries whose subject is the agent, that name the agent in their data, or that they made."""
    agent_id = str(agent.pk)
    return AuditEntry.objects.filter(
        Q(subject_type="agent", subject_id=agent_id)
        | Q(actor=agent.user)
        | Q(data__agent=agent_id)
        | Q(data__to_agent=agent_id)
        | Q(data__from_agent=agent_id)
    ).order_by("at", "pk")


def _audit(agent: Agent) -> Iterator[dict]:
    for entry in audit_entries_about(agent).iterator(chunk_size=CHUNK_ROWS):
        yield {
            "at": _when(entry.at),
            "by": "you" if entry.actor_id == agent.user_id else audit_actor_name(entry),
            "action": entry.action,
            "subject": f"{entry.subject_type}:{entry.subject_id}",
            "reason": entry.reason,
            "data": entry.data,
        }


def agent_data_export(*, agent: Agent) -> dict:
    """The whole record of `agent`. Large sections are generators: write it with export_json_chunks()."""
    agent = Agent.objects.select_related("user").get(pk=agent.pk)

    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "generated_at": _when(timezone.now()),
        "profile": _profile(agent),
        "presence": _presence(agent),
        "offers": _offers(agent),
        "tickets": _tickets(agent),
        "pay_lines": _pay_lines(agent),
        "pay_computations": _pay_computations(agent),
        "earnings_periods": _earnings_periods(agent),
        "payout_items": _payout_items(agent),
        "shift_bookings": _shift_bookings(agent),
        "appeals": _appeals(agent),
        "supervisor_alerts": _alerts(agent),
        "audit_entries": _audit(agent),
        "notes_written": _notes_written(agent),
        "canned_responses": _canned_responses(agent),
    }


def export_json_chunks(value) -> Iterator[str]:
    """JSON text of `value` in pieces: dicts and lists are written member by member, generators are
    consumed as they are written (so only one row is in memory at a time)."""
    if isinstance(value, dict):
        yield "{"
        for index, (key, member) in enumerate(value.items()):
            yield ("," if index else "") + json.dumps(str(key)) + ":"
            yield from export_json_chunks(member)
        yield "}"
    elif isinstance(value, list | tuple | GeneratorType) or (
        isinstance(value, Iterable) and not isinstance(value, str | bytes)
    ):
        yield "["
        for index, member in enumerate(value):
            if index:
                yield ","
            yield json.dumps(member, ensure_ascii=False)
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False)


def agent_export_filename(*, user: User, today: dt.date | None = None) -> str:
    today = today or timezone.localdate()
    return f"my-data-{user.username}-{today:%Y-%m-%d}.json"
