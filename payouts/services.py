"""Writes of the pay engine: rate cards, the pay estimate, ticket pay, bonuses, adjustments, the
earnings floor. Payout batches and their exports are in payouts.batches.

Invariants kept here:
- a ticket's pay is written exactly once: the TicketPay row (one per ticket) is inserted first, and the
  ledger's unique (ticket, kind) refuses a second set of lines even if that guard were bypassed;
- ledger lines are never changed (a database trigger refuses it); corrections are new lines;
- the offered estimate is a floor: final pay = max(estimate, pay on actual time);
- a shortfall is topped up once: the weekly earnings floor counts shift guarantee top-ups
  (payouts.guarantees) as earnings, and settles the week's ended shifts before it computes.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, Sum
from django.utils import timezone

from agents.models import Agent
from core import metrics
from core.audit import audit_record
from core.errors import DomainError, InvalidInput, NotFound
from core.time import utc_day_start
from payouts import formula, locks
from payouts.guarantees import shift_guarantee_close_due
from payouts.models import (
    FLOOR_EARNING_KINDS,
    PAYABLE_STATUSES,
    AssignmentPartPay,
    EarningsPeriodClose,
    PayLine,
    PayLineKind,
    RateCard,
    ShiftGuaranteeClose,
    TicketPay,
)
from tickets.models import Assignment, AssignmentEnd, Ticket

log = logging.getLogger(__name__)

DEFAULT_CURRENCY = getattr(settings, "PAYOUT_DEFAULT_CURRENCY", "EUR")
# The default card starts in the past so that every ticket ever seen has a card in force.
DEFAULT_CARD_START = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


# ---------------------------------------------------------------- rate cards


def _default_rate_card(*, currency: str) -> RateCard:
    """The card used when finance has not written one yet. Created once (unique version)."""
    existing = RateCard.objects.filter(currency=currency).order_by("version").first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            version = (RateCard.objects.aggregate(v=Max("version"))["v"] or 0) + 1
            return RateCard.objects.create(
                version=version,
                currency=currency,
                effective_from=DEFAULT_CARD_START,
                change_note="Default rate card, created automatically.",
            )
    except IntegrityError:
        # Another process created it (or took the version number) at the same moment.
        card = RateCard.objects.filter(currency=currency).order_by("version").first()
        if card is None:
            raise
        return card


def rate_card_in_force(*, at: dt.datetime | None = None, currency: str | None = None) -> RateCard:
    """The card in force at `at` for `currency` (default EUR). Never fails: with no card at all the
    default is created; with cards but none covering `at`, the nearest earlier (else the first) is used."""
    at = at or timezone.now()
    currency = currency or DEFAULT_CURRENCY
    cards = RateCard.objects.filter(currency=currency)
    card = (
        cards.filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at), effective_from__lte=at)
        .order_by("-effective_from")
        .first()
    )
    if card is None:
        card = cards.filter(effective_from__lte=at).order_by("-effective_from").first()
    if card is None:
        card = cards.order_by("effective_from").first()
    return card or _default_rate_card(currency=currency)


RATE_CARD_FIELDS = (
    "base_amount",
    "base_by_reason",
    "priority_premium",
    "rate_per_minute",
    "skill_level_premium",
    "vip_premium",
    "vulnerable_premium",
    "quality_bonus",
    "quality_bonus_min_csat",
    "after_contact_allowance_minutes",
    "after_contact_cap_minutes",
    "expected_handle_minutes",
    "hourly_reference",
    "hourly_reference_by_country",
    "floor_k",
    "floor_a",
)


def _validate_rate_card(values: dict) -> dict:
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            for key, amount in value.items():
                try:
                    if Decimal(str(amount)) < 0:
                        errors.setdefault(name, []).append(f"{key}: must not be negative.")
                except ArithmeticError:
                    errors.setdefault(name, []).append(f"{key}: not a decimal amount.")
        elif isinstance(value, Decimal | int) and value < 0:
            errors.setdefault(name, []).append("Must not be negative.")
    allowance = values.get("after_contact_allowance_minutes")
    cap = values.get("after_contact_cap_minutes")
    if allowance is not None and cap is not None and cap < allowance:
        errors.setdefault("after_contact_cap_minutes", []).append("The cap must be at least the allowance.")
    csat = values.get("quality_bonus_min_csat")
    if csat is not None and not 1 <= csat <= 5:
        errors.setdefault("quality_bonus_min_csat", []).append("CSAT is 1..5.")
    if errors:
        raise InvalidInput(errors, "The rate card is not valid.")
    return values


@transaction.atomic
def rate_card_create(
    *,
    actor,
    currency: str,
    effective_from: dt.datetime,
    effective_to: dt.datetime | None = None,
    change_note: str = "",
    **values,
) -> RateCard:
    """A new version. The open-ended card in force when it starts is closed at its start; any other
    overlap with a card of the same currency is refused (rate cards never overlap). (Agents are told in
    the algorithm notice: actions.rules.rate_card_change.)"""
    unknown = set(values) - set(RATE_CARD_FIELDS)
    if unknown:
        raise InvalidInput({name: ["Unknown field."] for name in sorted(unknown)})
    if effective_to is not None and effective_to <= effective_from:
        raise InvalidInput({"effective_to": ["Must be after effective_from."]}, "The period is empty.")
    # Unspecified values are taken from the card in force at the start (the default card for the default
    # currency, created here if finance never wrote one; the model's defaults for a new currency).
    has_cards = RateCard.objects.filter(currency=currency).exists()
    base = (
        rate_card_in_force(at=effective_from, currency=currency) if has_cards or currency == DEFAULT_CURRENCY else None
    )
    merged = {name: getattr(base, name) for name in RATE_CARD_FIELDS} if base is not None else {}
    merged.update(values)
    _validate_rate_card(merged)

    cards = locks.rate_cards_of_currency(currency=currency)
    for card in cards:
        # The open-ended card that started earlier is superseded at the new start: a new version, no overlap.
        supersedes = card.effective_to is None and card.effective_from < effective_from and effective_to is None
        if supersedes:
            continue
        ends_after_start = card.effective_to is None or card.effective_to > effective_from
        starts_before_end = effective_to is None or card.effective_from < effective_to
        if ends_after_start and starts_before_end:
            raise DomainError(
                "rate_card_overlap",
                f"The period overlaps rate card v{card.version} "
                f"({card.effective_from:%Y-%m-%d %H:%M} to "
                f"{card.effective_to.strftime('%Y-%m-%d %H:%M') if card.effective_to else 'open end'}).",
                http_status=400,
            )
    for card in cards:
        if card.effective_to is None and card.effective_from < effective_from and effective_to is None:
            RateCard.objects.filter(pk=card.pk).update(effective_to=effective_from)
    version = (RateCard.objects.aggregate(v=Max("version"))["v"] or 0) + 1
    card = RateCard.objects.create(
        version=version,
        currency=currency,
        effective_from=effective_from,
        effective_to=effective_to,
        change_note=change_note,
        created_by=actor,
        **{name: merged[name] for name in merged if name in RATE_CARD_FIELDS},
    )
    audit_record(
        actor=actor,
        action="rate_card.create",
        subject=card,
        reason=change_note,
        data={"version": version, "currency": currency, "effective_from": effective_from.isoformat()},
    )
    return card


# ---------------------------------------------------------------- estimate


@dataclass(frozen=True)
class PayEstimate:
    amount: Decimal
    currency: str
    detail: dict


def _estimate_for(*, card: RateCard, facts: formula.TicketFacts, surge: Decimal) -> tuple[formula.PayParts, dict]:
    after_contact = formula.after_contact_minutes(card=card, measured_minutes=None)
    minutes = Decimal(card.expected_handle_minutes) + after_contact
    parts = formula.pay_parts(card=card, facts=facts, minutes=minutes, surge=surge)
    detail = {
        **parts.as_detail(),
        "rate_card_id": card.pk,
        "rate_card_version": card.version,
        "expected_handle_minutes": str(card.expected_handle_minutes),
        "after_contact_minutes": str(after_contact),
        "reason": facts.reason,
        "priority": facts.priority,
        "customer_tier": facts.customer_tier,
        "customer_vulnerable": facts.customer_vulnerable,
        "skills": {code: level for code, level in facts.skill_levels},
        "explanation": "Estimate: " + formula.explain(parts),
    }
    return parts, detail


def pay_estimate(*, ticket, surge: Decimal, card: RateCard | None = None) -> PayEstimate:
    """What an offer of `ticket` at `surge` pays at least, from the rate card in force now.

    Assumption: the handle time is the rate card's `expected_handle_minutes` (default 8) plus the
    after-contact allowance. The estimate is a promise: the final pay can only be higher.
    """
    card = card or rate_card_in_force()
    parts, detail = _estimate_for(card=card, facts=formula.TicketFacts.of(ticket), surge=Decimal(surge))
    return PayEstimate(amount=parts.total, currency=card.currency, detail=detail)


# ---------------------------------------------------------------- hooks for other apps


PAY_FLUSH_QUEUED_KEY = "payouts:pay-flush-queued"


def ticket_pay_on_commit(*, ticket_id) -> None:
    """Pay a closed ticket once the caller's transaction commits: one batched task (ticket_pay_flush) for
    every ticket closed meanwhile, not a task each."""
    transaction.on_commit(ticket_pay_flush_request, robust=True)


def ticket_pay_flush_request() -> None:
    from payouts.tasks import ticket_pay_flush_task

    if cache.add(PAY_FLUSH_QUEUED_KEY, 1, timeout=60):
        ticket_pay_flush_task.delay()


def ticket_pay_flush(*, limit: int = 500) -> int:
    """Write the pay of every closed ticket that has none yet (each exactly once: ticket_pay_compute),
    until none is left. Returns the tickets paid."""
    paid = 0
    while True:
        cache.delete(PAY_FLUSH_QUEUED_KEY)  # tickets closed from now on ask for another flush
        unpaid = _unpaid_closed_tickets(settled_before=timezone.now(), limit=limit)
        if not unpaid:
            return paid
        paid += sum(1 for ticket_id in unpaid if ticket_pay_compute(ticket_id=ticket_id) is not None)
        if len(unpaid) < limit:
            return paid


def csat_recorded_on_commit(*, ticket_id) -> None:
    """A CSAT was stored: add the quality bonus (once) after commit if it qualifies."""
    from payouts.tasks import ticket_quality_bonus_task

    transaction.on_commit(lambda: ticket_quality_bonus_task.delay(str(ticket_id)), robust=True)


# ---------------------------------------------------------------- ticket pay


def _payable_ticket(ticket_id):

    ticket = (
        Ticket.objects.select_related("assigned_agent")
        .prefetch_related("required_skills__skill")
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None:
        return None
    if ticket.status not in PAYABLE_STATUSES or ticket.assigned_agent_id is None or ticket.assigned_at is None:
        return None
    if ticket.closed_at is None:
        return None  # still in wrap-up: paid when it ends
    return ticket


def _paid_assignment(ticket):
    """The final holder's assignment, once its slot is free (the wrap-up over): what is paid."""

    return (
        Assignment.objects.filter(ticket=ticket, agent_id=ticket.assigned_agent_id, released_at__isnull=False)
        .order_by("-started_at")
        .first()
    )


def _line(*, agent_id, kind, amount, card, explanation, inputs, ticket=None, **extra) -> PayLine:
    return PayLine(
        agent_id=agent_id,
        ticket=ticket,
        kind=kind,
        amount=amount,
        currency=card.currency,
        explanation=explanation,
        inputs=inputs,
        rate_card=card,
        **extra,
    )


@transaction.atomic
def ticket_pay_compute(*, ticket_id) -> TicketPay | None:
    """Write the pay lines of a finished ticket, exactly once. Returns None when there is nothing to
    do: the ticket is not finished or not assigned, or its pay was already written (by this task run
    earlier, or by another worker at the same moment: the TicketPay insert waits for theirs and fails)."""
    ticket = _payable_ticket(ticket_id)
    if ticket is None:
        return None
    if TicketPay.objects.filter(ticket_id=ticket.pk).exists():
        return None  # cheap exit; the unique insert below is the real guard
    assignment = _paid_assignment(ticket)
    if assignment is None:
        return None
    started_at, ended_at = assignment.started_at, assignment.ended_at
    card = rate_card_in_force(at=started_at)
    surge = assignment.pay_surge
    estimate = Decimal("0.00")
    if assignment.pay_estimate_amount is not None and assignment.pay_estimate_currency == card.currency:
        estimate = formula.money(assignment.pay_estimate_amount)

    engaged_seconds = max(0, int((ended_at - started_at).total_seconds()))
    # The wrap-up the agent really took, from the end of the conversation to their slot being free.
    measured_after = None
    if assignment.released_at > ended_at:
        measured_after = Decimal((assignment.released_at - ended_at).total_seconds()) / 60
    after_minutes = formula.after_contact_minutes(card=card, measured_minutes=measured_after)
    minutes = (Decimal(engaged_seconds) / 60 + after_minutes).quantize(formula.PAID_MINUTE, rounding=ROUND_HALF_UP)
    facts = formula.TicketFacts.of(ticket)
    parts = formula.pay_parts(card=card, facts=facts, minutes=minutes, surge=surge)
    topup = max(Decimal("0.00"), estimate - parts.total)
    final = parts.total + topup

    try:
        with transaction.atomic():
            pay = TicketPay.objects.create(
                ticket=ticket,
                agent_id=ticket.assigned_agent_id,
                rate_card=card,
                currency=card.currency,
                surge=surge,
                estimate_amount=estimate,
                actual_amount=parts.total,
                final_amount=final,
                engaged_seconds=engaged_seconds,
                after_contact_seconds=int(after_minutes * 60),
                work_started_at=started_at,
                work_ended_at=ended_at,
            )
    except IntegrityError:
        return None

    inputs = {
        "rate_card_id": card.pk,
        "rate_card_version": card.version,
        "assigned_at": started_at.isoformat(),
        "ended_at": ended_at.isoformat(),
        "wrap_up_ended_at": assignment.released_at.isoformat(),
        "engaged_seconds": engaged_seconds,
        "after_contact_minutes": str(after_minutes),
        "minutes": str(minutes),
        "offer_id": str(assignment.offer_id) if assignment.offer_id else None,
        "estimate": str(estimate),
        "reason": facts.reason,
        "priority": facts.priority,
        "customer_tier": facts.customer_tier,
        "customer_vulnerable": facts.customer_vulnerable,
        "skills": {code: level for code, level in facts.skill_levels},
        **parts.as_detail(),
        "final": str(final),
    }
    cur = card.currency
    summary = formula.explain(parts)
    engaged_text = (
        f"{formula.minutes_text(Decimal(engaged_seconds) / 60)} min engaged + "
        f"{formula.minutes_text(after_minutes)} min after-contact"
    )
    agent_id = ticket.assigned_agent_id
    if Assignment.objects.filter(ticket=ticket, end_reason=AssignmentEnd.TRANSFERRED).exists():
        # A colleague passed the customer on: this pay is for the receiver's own part only.
        engaged_text += "; your part since you took over the transfer, the sender is paid for theirs"
    lines = [
        _line(
            agent_id=agent_id,
            ticket=ticket,
            kind=PayLineKind.BASE,
            amount=parts.base,
            card=card,
            explanation=f"{parts.base_note.capitalize()} {parts.base} {cur} (rate card v{card.version}). {summary}",
            inputs=inputs,
        ),
        _line(
            agent_id=agent_id,
            ticket=ticket,
            kind=PayLineKind.TIME,
            amount=parts.time,
            card=card,
            explanation=(
                f"{formula.minutes_text(minutes)} min at {formula.money_rate(parts.rate_per_minute)} = "
                f"{parts.time} {cur} ({engaged_text})."
            ),
            inputs=inputs,
        ),
    ]
    if parts.premium:
        lines.append(
            _line(
                agent_id=agent_id,
                ticket=ticket,
                kind=PayLineKind.PREMIUM,
                amount=parts.premium,
                card=card,
                explanation=f"Premiums {parts.premium} {cur}: {', '.join(parts.premium_notes)}.",
                inputs=inputs,
            )
        )
    if parts.surge_amount:
        lines.append(
            _line(
                agent_id=agent_id,
                ticket=ticket,
                kind=PayLineKind.SURGE,
                amount=parts.surge_amount,
                card=card,
                explanation=(
                    f"Surge x{formula.fmt(parts.surge)} on labour {parts.labour} {cur} "
                    f"(base + time) adds {parts.surge_amount} {cur}."
                ),
                inputs=inputs,
            )
        )
    if topup:
        lines.append(
            _line(
                agent_id=agent_id,
                ticket=ticket,
                kind=PayLineKind.FLOOR_TOPUP,
                amount=topup,
                card=card,
                explanation=(
                    f"The offer promised {estimate} {cur}; pay on actual time is {parts.total} {cur}, "
                    f"so {topup} {cur} tops it up to the promise."
                ),
                inputs=inputs,
            )
        )
    PayLine.objects.bulk_create(lines)
    metrics.pay_lines_count_on_commit(line.kind for line in lines)
    _quality_bonus_write(ticket=ticket, card=card)
    return pay


def transfer_part_pay(*, assignment: Assignment) -> PayLine | None:
    """Pay the sender of an accepted warm transfer for their own part: the time they were engaged with
    the customer, at the rate card's per-minute rate with the surge their offer promised. The base and
    premiums go with the ticket to whoever finishes it (ticket_pay_compute pays that agent's own part).
    Written exactly once per assignment (the AssignmentPartPay marker's primary key); None when paid
    already. Runs in the caller's transaction (the accept of the transfer)."""
    if AssignmentPartPay.objects.filter(assignment_id=assignment.pk).exists():
        return None
    card = rate_card_in_force(at=assignment.started_at)
    surge = max(Decimal("1.00"), Decimal(assignment.pay_surge or 1))
    engaged_seconds = max(0, int((assignment.ended_at - assignment.started_at).total_seconds()))
    minutes = (Decimal(engaged_seconds) / 60).quantize(formula.PAID_MINUTE, rounding=ROUND_HALF_UP)
    time_amount = formula.money(minutes * card.rate_per_minute)
    surge_amount = formula.money(time_amount * (surge - 1))
    amount = time_amount + surge_amount
    cur = card.currency
    explanation = (
        f"Your part before you transferred the customer: {formula.minutes_text(minutes)} min engaged at "
        f"{formula.money_rate(card.rate_per_minute)} = {time_amount} {cur}"
    )
    if surge_amount:
        explanation += f"; surge x{formula.fmt(surge)} adds {surge_amount} {cur}"
    explanation += (
        f"; total {amount} {cur}. Each agent is paid for their own engaged time; the base and premiums go to "
        "the agent who finishes the ticket."
    )
    inputs = {
        "rate_card_id": card.pk,
        "rate_card_version": card.version,
        "assignment_id": str(assignment.pk),
        "assigned_at": assignment.started_at.isoformat(),
        "ended_at": assignment.ended_at.isoformat(),
        "engaged_seconds": engaged_seconds,
        "minutes": str(minutes),
        "rate_per_minute": str(card.rate_per_minute),
        "surge": str(surge),
        "time": str(time_amount),
        "surge_amount": str(surge_amount),
    }
    try:
        with transaction.atomic():
            line = _line(
                agent_id=assignment.agent_id,
                ticket_id=assignment.ticket_id,
                kind=PayLineKind.TRANSFER_PART,
                amount=amount,
                card=card,
                explanation=explanation,
                inputs=inputs,
            )
            line.save()
            AssignmentPartPay.objects.create(assignment_id=assignment.pk, pay_line=line)
    except IntegrityError:
        return None
    return line


def _quality_bonus_write(*, ticket, card: RateCard) -> PayLine | None:
    """The quality bonus of `ticket`, at most once (unique ticket+kind); None when it does not qualify
    or is already written."""
    if ticket.csat_score is None or ticket.csat_score < card.quality_bonus_min_csat or not card.quality_bonus:
        return None
    try:
        with transaction.atomic():
            metrics.pay_lines_count_on_commit([PayLineKind.QUALITY_BONUS])
            return PayLine.objects.create(
                agent_id=ticket.assigned_agent_id,
                ticket=ticket,
                kind=PayLineKind.QUALITY_BONUS,
                amount=formula.money(card.quality_bonus),
                currency=card.currency,
                rate_card=card,
                explanation=(
                    f"Quality bonus {formula.money(card.quality_bonus)} {card.currency}: the customer rated "
                    f"{ticket.csat_score} of 5 (rate card v{card.version} pays it from "
                    f"{card.quality_bonus_min_csat})."
                ),
                inputs={
                    "csat_score": ticket.csat_score,
                    "rate_card_id": card.pk,
                    "rate_card_version": card.version,
                    "quality_bonus": str(card.quality_bonus),
                    "quality_bonus_min_csat": card.quality_bonus_min_csat,
                },
            )
    except IntegrityError:
        return None


@transaction.atomic
def ticket_quality_bonus_record(*, ticket_id) -> PayLine | None:
    """A CSAT arrived (possibly long after the pay): add the bonus line once, if it qualifies."""
    ticket = _payable_ticket(ticket_id)
    if ticket is None:
        return None
    pay = TicketPay.objects.select_related("rate_card").filter(ticket_id=ticket.pk).first()
    card = pay.rate_card if pay is not None else rate_card_in_force(at=ticket.assigned_at)
    return _quality_bonus_write(ticket=ticket, card=card)


# ---------------------------------------------------------------- adjustments


@transaction.atomic
def pay_adjustment_create(*, actor, agent, amount: Decimal, currency: str, reason: str, ticket=None) -> PayLine:
    """A correction by finance: a new line (positive or negative), never an edit. A reason is required."""
    errors: dict[str, list[str]] = {}
    if not (reason or "").strip():
        errors["reason"] = ["A reason is required for an adjustment."]
    if amount is None or Decimal(amount) == 0:
        errors["amount"] = ["An adjustment must not be zero."]
    elif Decimal(amount) != formula.money(amount):
        errors["amount"] = ["At most two decimal places."]
    if ticket is not None and ticket.assigned_agent_id != agent.pk:
        errors["ticket"] = ["The ticket was not handled by this agent."]
    if errors:
        raise InvalidInput(errors, "The adjustment is not valid.")
    amount = formula.money(amount)
    line = PayLine.objects.create(
        agent=agent,
        ticket=ticket,
        kind=PayLineKind.ADJUSTMENT,
        amount=amount,
        currency=currency,
        explanation=f"Adjustment {amount} {currency} by {actor.get_username()}: {reason.strip()}",
        inputs={"entered_by": actor.get_username(), "ticket": str(ticket.pk) if ticket else None},
        created_by=actor,
        reason=reason.strip(),
    )
    metrics.pay_lines_count_on_commit([line.kind])
    audit_record(
        actor=actor,
        action="pay.adjust",
        subject=agent,
        reason=reason.strip(),
        data={"line": str(line.pk), "amount": str(amount), "currency": currency},
    )
    return line


# ---------------------------------------------------------------- earnings floor


def period_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """The weekly pay period (Monday..Sunday) containing `day`."""
    start = day - dt.timedelta(days=day.weekday())
    return start, start + dt.timedelta(days=6)


def earnings_floor_close_agent(*, agent, period_start: dt.date, card: RateCard) -> EarningsPeriodClose | None:
    """Close one agent's period: record its inputs and, if earnings fall below the floor, write the
    top-up line. Exactly once per agent and period (unique close row, unique top-up line)."""
    period_end = period_start + dt.timedelta(days=6)
    start, end = utc_day_start(period_start), utc_day_start(period_end + dt.timedelta(days=1))
    pays = TicketPay.objects.filter(
        agent=agent, work_ended_at__gte=start, work_ended_at__lt=end, currency=card.currency
    )
    engaged_seconds = pays.aggregate(s=Sum("engaged_seconds"))["s"] or 0
    ticket_earnings = (
        PayLine.objects.filter(
            ticket_id__in=pays.values("ticket_id"),
            kind__in=[k for k in FLOOR_EARNING_KINDS if k != PayLineKind.ADJUSTMENT],
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )
    adjustments = (
        PayLine.objects.filter(
            agent=agent,
            kind=PayLineKind.ADJUSTMENT,
            currency=card.currency,
            created_at__gte=start,
            created_at__lt=end,
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )
    # The hourly guarantee of a shift that ended in the period already topped up its hours: counted as
    # earnings here, so the floor tops up only what is still missing, never the same shortfall twice.
    shift_topups = (
        ShiftGuaranteeClose.objects.filter(
            agent=agent, currency=card.currency, window_end__gt=start, window_end__lte=end
        ).aggregate(s=Sum("topup_amount"))["s"]
        or 0
    )
    earnings = formula.money(Decimal(ticket_earnings) + Decimal(adjustments) + Decimal(shift_topups))
    previous = (
        EarningsPeriodClose.objects.filter(agent=agent, period_start__lt=period_start)
        .order_by("-period_start")
        .values_list("online_seconds_at_close", flat=True)
        .first()
    )
    available_seconds = max(0, agent.online_seconds - (previous or 0))
    reference = Decimal((card.hourly_reference_by_country or {}).get(agent.payout_country, card.hourly_reference))
    engaged_hours = Decimal(engaged_seconds) / 3600
    available_hours = Decimal(available_seconds) / 3600
    floor = formula.money(card.floor_k * reference * engaged_hours + card.floor_a * reference * available_hours)
    topup = max(Decimal("0.00"), floor - earnings) if engaged_seconds or available_seconds else Decimal("0.00")
    try:
        with transaction.atomic():
            close = EarningsPeriodClose.objects.create(
                agent=agent,
                period_start=period_start,
                period_end=period_end,
                currency=card.currency,
                rate_card=card,
                earnings=earnings,
                engaged_seconds=engaged_seconds,
                available_seconds=available_seconds,
                online_seconds_at_close=agent.online_seconds,
                floor_amount=floor,
                topup_amount=topup,
            )
            if topup:
                cur = card.currency
                metrics.pay_lines_count_on_commit([PayLineKind.EARNINGS_FLOOR_TOPUP])
                PayLine.objects.create(
                    agent=agent,
                    kind=PayLineKind.EARNINGS_FLOOR_TOPUP,
                    amount=topup,
                    currency=cur,
                    rate_card=card,
                    period_start=period_start,
                    explanation=(
                        f"Earnings floor for {period_start:%Y-%m-%d}..{period_end:%Y-%m-%d}: "
                        f"{formula.fmt(card.floor_k)} x {reference} {cur}/h x "
                        f"{formula.minutes_text(engaged_hours)} engaged h"
                        + (
                            f" + {formula.fmt(card.floor_a)} x {reference} {cur}/h x "
                            f"{formula.minutes_text(available_hours)} available h"
                            if card.floor_a
                            else ""
                        )
                        + f" = {floor} {cur}; earned {earnings} {cur}"
                        + (
                            f" (of which {formula.money(shift_topups)} {cur} shift guarantee top-ups)"
                            if shift_topups
                            else ""
                        )
                        + f"; top-up {topup} {cur}."
                    ),
                    inputs={
                        "period_start": period_start.isoformat(),
                        "period_end": period_end.isoformat(),
                        "rate_card_id": card.pk,
                        "rate_card_version": card.version,
                        "hourly_reference": str(reference),
                        "floor_k": str(card.floor_k),
                        "floor_a": str(card.floor_a),
                        "engaged_seconds": engaged_seconds,
                        "available_seconds": available_seconds,
                        "earnings": str(earnings),
                        "shift_guarantee_topups": str(formula.money(shift_topups)),
                        "floor": str(floor),
                    },
                )
    except IntegrityError:
        return None
    return close


def earnings_floor_close_period(*, period_start: dt.date) -> int:
    """Close `period_start`'s week for every agent not closed yet. Returns how many were closed now.

    Shifts that ended are settled first (without waiting for late ticket pay), so that their guarantee
    top-ups are in the earnings the floor compares against."""

    if period_start.weekday() != 0:
        raise InvalidInput({"period_start": ["A period starts on a Monday."]})
    shift_guarantee_close_due(wait_for_ticket_pay=False)
    end_day = period_start + dt.timedelta(days=7)
    card = rate_card_in_force(at=utc_day_start(end_day) - dt.timedelta(seconds=1))
    closed = EarningsPeriodClose.objects.filter(period_start=period_start).values("agent_id")
    count = 0
    for agent in Agent.objects.exclude(pk__in=closed).order_by("pk").iterator(chunk_size=500):
        with transaction.atomic():
            if earnings_floor_close_agent(agent=agent, period_start=period_start, card=card) is not None:
                count += 1
    return count


def earnings_floor_close_due(*, now: dt.datetime | None = None, grace: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Close the last finished week once `grace` has passed after it (so late pay tasks have run)."""
    now = now or timezone.now()
    this_week_start, _ = period_bounds((now - grace).astimezone(dt.UTC).date())
    return earnings_floor_close_period(period_start=this_week_start - dt.timedelta(days=7))


def pay_line_get(*, line_id) -> PayLine:
    line = PayLine.objects.filter(pk=line_id).first()
    if line is None:
        raise NotFound("No such pay line.")
    return line


# A pay or bonus task lost with a worker (or never queued while Redis was down) is redone by the sweep
# once the ticket has been finished, or rated, this long.
LOST_PAY_TASK_SECONDS = 30


def _unpaid_closed_tickets(*, settled_before, limit: int) -> list:
    return list(
        Ticket.objects.filter(
            status__in=PAYABLE_STATUSES,
            assigned_agent__isnull=False,
            assigned_at__isnull=False,
            pay__isnull=True,
            closed_at__lt=settled_before,
        )
        .order_by("closed_at")
        .values_list("pk", flat=True)[:limit]
    )


def ticket_pay_sweep(*, limit: int = 500) -> int:
    """Compute the pay of finished, assigned tickets that have none, and the quality bonus of rated
    ones that qualify and have none (a lost task is repaired here). Returns the lines' tickets paid."""

    settled_before = timezone.now() - dt.timedelta(seconds=LOST_PAY_TASK_SECONDS)
    unpaid = _unpaid_closed_tickets(settled_before=settled_before, limit=limit)
    paid = sum(1 for ticket_id in unpaid if ticket_pay_compute(ticket_id=ticket_id) is not None)
    metrics.count_on_commit(metrics.sweep_repairs_total, paid, kind="tickets_paid")
    bonus_missing = list(
        Ticket.objects.filter(
            pay__isnull=False,
            csat_at__lt=settled_before,
            csat_at__gte=settled_before - dt.timedelta(days=7),
            csat_score__gte=F("pay__rate_card__quality_bonus_min_csat"),
            pay__rate_card__quality_bonus__gt=0,
        )
        .exclude(Exists(PayLine.objects.filter(ticket=OuterRef("pk"), kind=PayLineKind.QUALITY_BONUS)))
        .order_by("csat_at")
        .values_list("pk", flat=True)[:limit]
    )
    return paid + sum(1 for ticket_id in bonus_missing if ticket_quality_bonus_record(ticket_id=ticket_id) is not None)
