"""Payout batches: build (draft), approve (four eyes), export, mark paid.

Invariants kept here:
- a ledger line is paid by at most one batch: PayoutItemLine's primary key is the line, so the
  database refuses a second claim (two batches built at once: the second fails and is refused);
- the approver is never the creator (checked here, and a CHECK constraint on the table);
- exports are deterministic; the first export's SHA-256 is stored and every later one must match.
"""

import datetime as dt
import hashlib
import logging
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from rest_framework import status

from agents.models import Agent
from agents.payout_details import payout_details_problem
from core.audit import audit_record
from core.errors import DomainError, InvalidInput, NotFound
from core.time import utc_day_start
from payouts import exports
from payouts.models import (
    PayLine,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutExport,
    PayoutItem,
    PayoutItemLine,
    PayoutItemStatus,
)

log = logging.getLogger(__name__)


def _period_lines(*, period_start: dt.date, period_end: dt.date, currency: str):
    """Unpaid lines of `currency` created in the period (UTC days, both ends included)."""
    return PayLine.objects.filter(
        currency=currency,
        created_at__gte=utc_day_start(period_start),
        created_at__lt=utc_day_start(period_end + dt.timedelta(days=1)),
        payout__isnull=True,
    )


CLAIM_SQL = """
INSERT INTO payouts_payoutitemline (line_id, item_id)
SELECT line.id, item.id
FROM payouts_payline line
JOIN payouts_payoutitem item ON item.agent_id = line.agent_id AND item.batch_id = %s AND item.status = %s
WHERE line.currency = %s AND line.created_at >= %s AND line.created_at < %s
  AND NOT EXISTS (SELECT 1 FROM payouts_payoutitemline claimed WHERE claimed.line_id = line.id)
"""


@transaction.atomic
def payout_batch_create(*, actor, period_start: dt.date, period_end: dt.date, currency: str) -> PayoutBatch:
    """A draft batch: one item per agent whose unpaid lines in the period add up to more than zero.
    Agents without valid payout details get a `held` item (with the reason) whose lines stay unpaid
    for a later batch. Refused when the period has nothing to pay."""
    currency = (currency or "").upper()
    if period_end < period_start:
        raise InvalidInput({"period_end": ["Must not be before period_start."]}, "The period is empty.")
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput({"currency": ["An ISO 4217 code such as EUR."]})

    lines = _period_lines(period_start=period_start, period_end=period_end, currency=currency)
    totals = list(
        lines.values("agent_id")
        .annotate(total=Sum("amount"), count=Count("pk"))
        .filter(total__gt=0)
        .order_by("agent_id")
    )
    if not totals:
        raise DomainError(
            "empty_period",
            f"Nothing to pay: no unpaid {currency} lines with a positive total between "
            f"{period_start:%Y-%m-%d} and {period_end:%Y-%m-%d}.",
            http_status=status.HTTP_409_CONFLICT,
        )

    agents = Agent.objects.in_bulk([row["agent_id"] for row in totals])
    batch_id = PayoutBatch._meta.pk.default()
    batch = PayoutBatch.objects.create(
        id=batch_id,
        period_start=period_start,
        period_end=period_end,
        currency=currency,
        created_by=actor,
        message_id=f"DSP-{batch_id.hex[:12].upper()}-{period_end:%Y%m%d}",
    )
    items = []
    for position, row in enumerate(totals, start=1):
        agent = agents[row["agent_id"]]
        problem = payout_details_problem(agent)
        items.append(
            PayoutItem(
                batch=batch,
                agent=agent,
                position=position,
                status=PayoutItemStatus.HELD if problem else PayoutItemStatus.PAYABLE,
                held_reason=problem or "",
                amount=row["total"],
                currency=currency,
                line_count=row["count"],
                reference=f"{batch.message_id}-{position:05d}",
                agent_name=agent.display_name,
                holder=agent.payout_holder,
                iban=agent.payout_iban.replace(" ", "").upper(),
                bic=agent.payout_bic.replace(" ", "").upper(),
                street=agent.payout_street,
                postcode=agent.payout_postcode,
                town=agent.payout_town,
                country=agent.payout_country.upper(),
            )
        )
    PayoutItem.objects.bulk_create(items, batch_size=2000)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                CLAIM_SQL,
                [
                    _uuid_param(batch.pk),
                    PayoutItemStatus.PAYABLE,
                    currency,
                    connection.ops.adapt_datetimefield_value(utc_day_start(period_start)),
                    connection.ops.adapt_datetimefield_value(utc_day_start(period_end + dt.timedelta(days=1))),
                ],
            )
    except IntegrityError as exc:
        raise DomainError(
            "lines_already_in_batch",
            "Another batch took some of these lines at the same moment; build the batch again.",
            http_status=status.HTTP_409_CONFLICT,
        ) from exc
    _reconcile_items(batch=batch, items=items)
    _batch_totals_store(batch=batch)
    audit_record(
        actor=actor,
        action="payout_batch.create",
        subject=batch,
        data={
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "currency": currency,
            "total": str(batch.total_amount),
            "items": batch.item_count,
            "held": batch.held_count,
        },
    )
    return batch


def _uuid_param(value):
    # SQLite stores UUIDs as 32 hex characters; PostgreSQL takes the UUID itself.
    return value.hex if connection.vendor == "sqlite" else value


def _reconcile_items(*, batch: PayoutBatch, items: list[PayoutItem]) -> None:
    """Item amounts are what the claimed lines add up to (a line written between the totals and the
    claim is in both, or in neither)."""
    claimed = {
        row["item_id"]: (row["total"], row["count"])
        for row in PayoutItemLine.objects.filter(item__batch=batch)
        .values("item_id")
        .annotate(total=Sum("line__amount"), count=Count("pk"))
    }
    changed = []
    for item in items:
        if item.status != PayoutItemStatus.PAYABLE:
            continue
        total, count = claimed.get(item.pk, (Decimal("0.00"), 0))
        if (total, count) != (item.amount, item.line_count):
            if total <= 0:
                raise DomainError(
                    "ledger_changed", "The ledger changed while the batch was built; build it again.", http_status=409
                )
            item.amount, item.line_count = total, count
            changed.append(item)
    if changed:
        PayoutItem.objects.bulk_update(changed, ["amount", "line_count"])


def _batch_totals_store(*, batch: PayoutBatch) -> None:
    sums = {
        row["status"]: row
        for row in PayoutItem.objects.filter(batch=batch).values("status").annotate(total=Sum("amount"), n=Count("pk"))
    }
    payable = sums.get(PayoutItemStatus.PAYABLE, {})
    held = sums.get(PayoutItemStatus.HELD, {})
    batch.total_amount = payable.get("total") or Decimal("0.00")
    batch.item_count = payable.get("n") or 0
    batch.held_amount = held.get("total") or Decimal("0.00")
    batch.held_count = held.get("n") or 0
    batch.save(update_fields=["total_amount", "item_count", "held_amount", "held_count"])


def _batch_or_404(batch_id) -> PayoutBatch:
    batch = PayoutBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("No such payout batch.")
    return batch


@transaction.atomic
def payout_batch_approve(*, actor, batch_id) -> PayoutBatch:
    """Draft -> approved, by a finance user other than the creator (four eyes)."""
    batch = _batch_or_404(batch_id)
    if batch.created_by_id == actor.pk:
        raise DomainError(
            "four_eyes",
            "You built this batch; another finance user must approve it.",
            http_status=status.HTTP_403_FORBIDDEN,
        )
    now = timezone.now()
    updated = (
        PayoutBatch.objects.filter(pk=batch.pk, status=PayoutBatchStatus.DRAFT)
        .exclude(created_by=actor)
        .update(status=PayoutBatchStatus.APPROVED, approved_by=actor, approved_at=now)
    )
    if updated != 1:
        raise DomainError("not_draft", f"The batch is {batch.status}, not a draft.", http_status=409)
    batch.refresh_from_db()
    audit_record(actor=actor, action="payout_batch.approve", subject=batch, data={"total": str(batch.total_amount)})
    return batch


@transaction.atomic
def payout_batch_mark_paid(*, actor, batch_id) -> PayoutBatch:
    """Approved -> paid (the bank executed the file)."""
    batch = _batch_or_404(batch_id)
    updated = PayoutBatch.objects.filter(pk=batch.pk, status=PayoutBatchStatus.APPROVED).update(
        status=PayoutBatchStatus.PAID, paid_by=actor, paid_at=timezone.now()
    )
    if updated != 1:
        raise DomainError("not_approved", f"Only an approved batch can be marked paid; it is {batch.status}.")
    batch.refresh_from_db()
    audit_record(actor=actor, action="payout_batch.mark_paid", subject=batch, data={"total": str(batch.total_amount)})
    return batch


def _exportable(batch_id) -> PayoutBatch:
    batch = _batch_or_404(batch_id)
    if batch.status not in (PayoutBatchStatus.APPROVED, PayoutBatchStatus.PAID):
        raise DomainError(
            "not_approved", f"The batch is {batch.status}: only approved batches can be exported.", http_status=409
        )
    return batch


def _payable_items(batch: PayoutBatch):
    return PayoutItem.objects.filter(batch=batch, status=PayoutItemStatus.PAYABLE).order_by("position")


def _record_export(*, actor, batch: PayoutBatch, fmt: str, content: bytes) -> None:
    digest = hashlib.sha256(content).hexdigest()
    try:
        with transaction.atomic():
            export, created = PayoutExport.objects.get_or_create(
                batch=batch,
                format=fmt,
                defaults={"sha256": digest, "size_bytes": len(content), "first_exported_by": actor},
            )
    except IntegrityError:
        export, created = PayoutExport.objects.get(batch=batch, format=fmt), False
    if not created and export.sha256 != digest:
        # Deterministic by construction; a different file means the batch's data changed under us.
        raise DomainError(
            "export_changed", f"The {fmt} export differs from the one first exported ({export.sha256[:12]}...)."
        )
    if created:
        audit_record(actor=actor, action="payout_batch.export", subject=batch, data={"format": fmt, "sha256": digest})


def payout_batch_export_csv(*, actor, batch_id) -> tuple[PayoutBatch, bytes]:
    batch = _exportable(batch_id)
    content = exports.batch_csv(batch=batch, items=_payable_items(batch).iterator(chunk_size=2000))
    _record_export(actor=actor, batch=batch, fmt="csv", content=content)
    return batch, content


def payout_batch_export_xml(*, actor, batch_id, version: str | None = None) -> tuple[PayoutBatch, bytes, str]:
    version = version or exports.SEPA_VERSIONS[0]
    if version not in exports.SEPA_VERSIONS:
        raise InvalidInput({"version": [f"One of {', '.join(exports.SEPA_VERSIONS)}."]})
    batch = _exportable(batch_id)
    if batch.currency != "EUR":
        raise DomainError(
            "sepa_needs_eur",
            f"SEPA credit transfers are in euros only; this batch is in {batch.currency}. Use the CSV export.",
            http_status=409,
        )
    refusal = exports.debtor_refusal()
    if refusal is not None:
        raise refusal
    if batch.item_count == 0:
        raise DomainError("nothing_payable", "Every item of this batch is held: there is nothing to transfer.")
    content = exports.batch_sepa_xml(
        batch=batch, items=_payable_items(batch).iterator(chunk_size=2000), version=version
    )
    _record_export(actor=actor, batch=batch, fmt=version, content=content)
    return batch, content, version
