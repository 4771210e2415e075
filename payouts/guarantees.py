"""The hourly guarantee of booked shifts (issue #7): settled once per booking after the shift ended.

For each booking of a shift that carries a guarantee:
- the window is the shift, from its start to its end (to the cancellation, if it was cancelled after it
  started; a shift cancelled before it started guarantees nothing);
- online hours = the agent's PresenceIntervals intersected with the window, to the hundredth of an hour
  (36 s); the explanation's "h x rate = amount" therefore adds up;
- guarantee = online hours x the shift's hourly guarantee, in the shift's currency;
- earnings = the agent's pay for tickets whose work ended inside the window (base, time, premiums, surge
  and the top-up to an offered estimate; not quality bonuses, adjustments or other top-ups), in the shift's
  currency only: amounts in another currency cannot be compared without an exchange rate, so they are not
  counted, and the explanation says so;
- a `shift_guarantee_topup` line pays guarantee - earnings when that is positive.

Exactly once per booking: the close row's primary key is the booking, and it is inserted together with
the line in one savepoint, so a second run or a second worker at the same moment gets an IntegrityError
and writes nothing. A close row is written even when no top-up is due ("guarantee met").

The weekly earnings floor counts a shift top-up as earnings of the week in which the shift ended, and
closes every ended shift of the week before it computes the floor (payouts.services), so the same
shortfall is never paid twice.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from agents.models import PresenceInterval, ShiftBooking
from core import metrics
from payouts import formula
from payouts.models import (
    PAYABLE_STATUSES,
    SHIFT_GUARANTEE_EARNING_KINDS,
    PayLine,
    PayLineKind,
    ShiftGuaranteeClose,
    TicketPay,
)
from tickets.models import Ticket

log = logging.getLogger(__name__)

# Pay tasks of tickets that ended just before the shift's end get time to run before the shift is settled.
SHIFT_CLOSE_GRACE = dt.timedelta(minutes=15)
# A finished ticket of the agent without pay yet holds the settlement back (its pay counts as earnings),
# but not forever: the pay sweep repairs a lost pay task within minutes, so after this the shift is settled.
WAIT_FOR_TICKET_PAY = dt.timedelta(hours=24)
# Shifts that ended longer ago than this are no longer looked at by the periodic task.
CLOSE_LOOKBACK = dt.timedelta(days=28)
HOUR = Decimal("0.01")


@dataclass(frozen=True)
class GuaranteeFigures:
    window_start: dt.datetime
    window_end: dt.datetime
    online_seconds: int
    online_hours: Decimal
    intervals: list
    guarantee: Decimal
    earnings: Decimal
    other_currency_earnings: dict
    topup: Decimal


def shift_guarantee_window(shift) -> tuple[dt.datetime, dt.datetime] | None:
    """The stretch the guarantee covers, or None when the shift was cancelled before it started."""
    if shift.cancelled_at is None:
        return shift.starts_at, shift.ends_at
    if shift.cancelled_at <= shift.starts_at:
        return None
    return shift.starts_at, min(shift.ends_at, shift.cancelled_at)


def online_intervals_within(*, agent_id, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The agent's online stretches clipped to [start, end); an interval still open runs to `end`."""

    rows = (
        PresenceInterval.objects.filter(agent_id=agent_id, started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .order_by("started_at")
        .values_list("started_at", "ended_at")
    )
    clipped = []
    for started_at, ended_at in rows:
        lo, hi = max(started_at, start), min(ended_at or end, end)
        if hi <= lo:
            continue
        if clipped and lo <= clipped[-1][1]:  # overlapping rows (a repair) are counted once
            clipped[-1] = (clipped[-1][0], max(clipped[-1][1], hi))
        else:
            clipped.append((lo, hi))
    return clipped


def shift_guarantee_figures(*, shift, agent_id) -> GuaranteeFigures | None:
    """Everything the settlement of `agent_id`'s booking of `shift` needs; None if the shift guarantees
    nothing (cancelled before it started)."""
    window = shift_guarantee_window(shift)
    if window is None:
        return None
    start, end = window
    currency = shift.hourly_guarantee_currency
    intervals = online_intervals_within(agent_id=agent_id, start=start, end=end)
    online_seconds = int(sum((hi - lo).total_seconds() for lo, hi in intervals))
    online_hours = (Decimal(online_seconds) / 3600).quantize(HOUR, rounding=ROUND_HALF_UP)
    guarantee = formula.money(online_hours * Decimal(shift.hourly_guarantee_amount))
    ticket_ids = TicketPay.objects.filter(agent_id=agent_id, work_ended_at__gte=start, work_ended_at__lt=end).values(
        "ticket_id"
    )
    by_currency = dict(
        PayLine.objects.filter(ticket_id__in=ticket_ids, agent_id=agent_id, kind__in=SHIFT_GUARANTEE_EARNING_KINDS)
        .values("currency")
        .annotate(total=Sum("amount"))
        .values_list("currency", "total")
    )
    earnings = formula.money(by_currency.pop(currency, Decimal("0.00")))
    topup = max(Decimal("0.00"), guarantee - earnings)
    return GuaranteeFigures(
        window_start=start,
        window_end=end,
        online_seconds=online_seconds,
        online_hours=online_hours,
        intervals=[[lo.isoformat(), hi.isoformat()] for lo, hi in intervals],
        guarantee=guarantee,
        earnings=earnings,
        other_currency_earnings={code: str(formula.money(total)) for code, total in sorted(by_currency.items())},
        topup=topup,
    )


def _window_text(start: dt.datetime, end: dt.datetime) -> str:
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    end_text = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %Y-%m-%d %H:%M}"
    return f"Shift {start:%a %Y-%m-%d %H:%M}-{end_text} UTC"


def shift_guarantee_explanation(*, figures: GuaranteeFigures, hourly_guarantee: Decimal, currency: str) -> str:
    """The settlement in plain words, e.g. "Shift Mon 2026-11-16 09:00-13:00 UTC: online 3.50 h x
    12.00 EUR/h guaranteed = 42.00 EUR; earned 30.10 EUR from tickets in the shift; top-up 11.90 EUR."."""
    other = ""
    if figures.other_currency_earnings:
        amounts = ", ".join(f"{amount} {code}" for code, amount in figures.other_currency_earnings.items())
        other = f" ({amounts} in another currency not counted)"
    text = (
        f"{_window_text(figures.window_start, figures.window_end)}: online {figures.online_hours} h x "
        f"{formula.money(hourly_guarantee)} {currency}/h guaranteed = {figures.guarantee} {currency}; "
        f"earned {figures.earnings} {currency} from tickets in the shift{other}; "
    )
    if figures.topup:
        return text + f"top-up {figures.topup} {currency}."
    if not figures.online_seconds:
        return text + "no top-up: the guarantee pays for the time you are online during the shift."
    return text + "guarantee met, no top-up."


def shift_guarantee_close_booking(*, booking) -> ShiftGuaranteeClose | None:
    """Settle one booking: the close row and, when due, the top-up line, exactly once. Returns None when
    there is nothing to settle (no guarantee, cancelled before the start) or it was settled already
    (earlier, or by another worker at this moment)."""
    shift = booking.shift
    if not shift.hourly_guarantee_amount:
        return None
    figures = shift_guarantee_figures(shift=shift, agent_id=booking.agent_id)
    if figures is None:
        return None
    currency = shift.hourly_guarantee_currency
    explanation = shift_guarantee_explanation(
        figures=figures, hourly_guarantee=shift.hourly_guarantee_amount, currency=currency
    )
    inputs = {
        "shift_id": str(shift.pk),
        "booking_id": str(booking.pk),
        "window_start": figures.window_start.isoformat(),
        "window_end": figures.window_end.isoformat(),
        "hourly_guarantee": str(formula.money(shift.hourly_guarantee_amount)),
        "online_seconds": figures.online_seconds,
        "online_hours": str(figures.online_hours),
        "intervals": figures.intervals,
        "guarantee": str(figures.guarantee),
        "earnings": str(figures.earnings),
        "other_currency_earnings": figures.other_currency_earnings,
        "topup": str(figures.topup),
    }
    try:
        with transaction.atomic():
            line = None
            if figures.topup:
                metrics.pay_lines_count_on_commit([PayLineKind.SHIFT_GUARANTEE_TOPUP])
                line = PayLine.objects.create(
                    agent_id=booking.agent_id,
                    kind=PayLineKind.SHIFT_GUARANTEE_TOPUP,
                    amount=figures.topup,
                    currency=currency,
                    explanation=explanation,
                    inputs=inputs,
                )
            return ShiftGuaranteeClose.objects.create(
                booking=booking,
                shift=shift,
                agent_id=booking.agent_id,
                window_start=figures.window_start,
                window_end=figures.window_end,
                currency=currency,
                hourly_guarantee=shift.hourly_guarantee_amount,
                online_seconds=figures.online_seconds,
                online_hours=figures.online_hours,
                guarantee_amount=figures.guarantee,
                earnings=figures.earnings,
                topup_amount=figures.topup,
                intervals=figures.intervals,
                explanation=explanation,
                pay_line=line,
            )
    except IntegrityError:
        return None


def _unpaid_ticket_in_window(*, agent_id, start: dt.datetime, end: dt.datetime) -> bool:

    return Ticket.objects.filter(
        assigned_agent_id=agent_id,
        status__in=PAYABLE_STATUSES,
        closed_at__gte=start,
        closed_at__lt=end,
        pay__isnull=True,
    ).exists()


def shift_guarantee_close_due(*, now: dt.datetime | None = None, wait_for_ticket_pay: bool = True) -> int:
    """Settle every booking of a guaranteed shift that ended at least SHIFT_CLOSE_GRACE ago and is not
    settled yet. With `wait_for_ticket_pay`, a booking whose agent has a finished ticket in the window
    without pay is left for a later run (up to WAIT_FOR_TICKET_PAY after the end), so that the ticket's
    pay is counted as earnings. Safe to run twice and concurrently. Returns how many were settled now."""

    now = now or timezone.now()
    bookings = (
        ShiftBooking.objects.filter(
            shift__ends_at__lte=now - SHIFT_CLOSE_GRACE,
            shift__ends_at__gt=now - CLOSE_LOOKBACK,
            shift__hourly_guarantee_amount__gt=0,
            guarantee_close__isnull=True,
        )
        .filter(Q(shift__cancelled_at__isnull=True) | Q(shift__cancelled_at__gt=F("shift__starts_at")))
        .select_related("shift")
        .order_by("shift__ends_at", "pk")
    )
    closed = 0
    for booking in bookings.iterator(chunk_size=500):
        window = shift_guarantee_window(booking.shift)
        if (
            wait_for_ticket_pay
            and window is not None
            and booking.shift.ends_at > now - WAIT_FOR_TICKET_PAY
            and _unpaid_ticket_in_window(agent_id=booking.agent_id, start=window[0], end=window[1])
        ):
            continue
        with transaction.atomic():
            if shift_guarantee_close_booking(booking=booking) is not None:
                closed += 1
    return closed
