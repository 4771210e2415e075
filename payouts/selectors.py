"""Reads of the payouts app."""

import datetime as dt

from django.db.models import QuerySet

from core.time import utc_day_start
from payouts.models import PayLine, PayoutBatch, PayoutItem, RateCard, ShiftGuaranteeClose


def pay_line_list(
    *, agent_id=None, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> QuerySet[PayLine]:
    """Ledger lines, newest first; `date_from`/`date_to` are UTC days, both included."""
    lines = PayLine.objects.all()
    if agent_id is not None:
        lines = lines.filter(agent_id=agent_id)
    if date_from is not None:
        lines = lines.filter(created_at__gte=utc_day_start(date_from))
    if date_to is not None:
        lines = lines.filter(created_at__lt=utc_day_start(date_to + dt.timedelta(days=1)))
    return lines.order_by("-created_at", "-pk")


def payout_batch_list() -> QuerySet[PayoutBatch]:
    return PayoutBatch.objects.select_related("created_by", "approved_by", "paid_by").order_by("-created_at")


def payout_batch_get(*, batch_id) -> PayoutBatch | None:
    return payout_batch_list().prefetch_related("exports").filter(pk=batch_id).first()


def payout_item_list(*, batch) -> QuerySet[PayoutItem]:
    return PayoutItem.objects.filter(batch=batch).order_by("position")


def rate_card_list() -> QuerySet[RateCard]:
    return RateCard.objects.select_related("created_by").order_by("-version")


def shift_guarantee_close_list(*, agent_id=None) -> QuerySet[ShiftGuaranteeClose]:
    """Settled shift guarantees (met or topped up), the latest shift first."""
    closes = ShiftGuaranteeClose.objects.all()
    if agent_id is not None:
        closes = closes.filter(agent_id=agent_id)
    return closes.order_by("-window_end", "-pk")
