"""Rate cards, the pay ledger, and payout batches.

Money is always Decimal with two places, never float. The ledger (`PayLine`) is append-only in the
database (see core/append_only.py); a correction is a new line.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

MONEY = {"max_digits": 12, "decimal_places": 2}
RATE = {"max_digits": 10, "decimal_places": 4}

# Cancelled counts when an agent was already working on it: the customer leaving does not void the work.
PAYABLE_STATUSES = ("resolved", "handed_back", "cancelled")


class RateCard(models.Model):
    """The pay rules in force from `effective_from` until `effective_to` (open-ended when null).

    A change is a new version: the previous open-ended card of the same currency is closed where the
    new one starts. Periods of one currency never overlap (checked by payouts.services under a lock).
    """

    version = models.PositiveIntegerField(unique=True)
    currency = models.CharField(max_length=3, default="EUR")
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    change_note = models.TextField(blank=True)

    # Base per ticket: `base_by_reason[reason]` if present, else `base_amount`; plus
    # `priority_premium[str(priority)]` when present. JSON values are decimal strings.
    base_amount = models.DecimalField(**MONEY, default=Decimal("2.00"))
    base_by_reason = models.JSONField(default=dict, blank=True)
    priority_premium = models.JSONField(default=dict, blank=True)
    rate_per_minute = models.DecimalField(**RATE, default=Decimal("0.30"))
    # Per required skill: min_level x this amount.
    skill_level_premium = models.DecimalField(**MONEY, default=Decimal("0.10"))
    vip_premium = models.DecimalField(**MONEY, default=Decimal("0.50"))
    vulnerable_premium = models.DecimalField(**MONEY, default=Decimal("0.75"))
    quality_bonus = models.DecimalField(**MONEY, default=Decimal("0.50"))
    quality_bonus_min_csat = models.PositiveSmallIntegerField(default=5)
    # Wrap-up after the customer left: at least the allowance, measured time beyond it, never above the cap.
    after_contact_allowance_minutes = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("1.00"))
    after_contact_cap_minutes = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("3.00"))
    # The handle time an offer's estimate assumes (the estimate is a floor: actual time can only add).
    expected_handle_minutes = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("8.00"))
    # Earnings floor: k x R x engaged hours + a x R x available hours, R per country (else the default).
    hourly_reference = models.DecimalField(**MONEY, default=Decimal("12.82"))
    hourly_reference_by_country = models.JSONField(default=dict, blank=True)
    floor_k = models.DecimalField(max_digits=5, decimal_places=3, default=Decimal("1.200"))
    floor_a = models.DecimalField(max_digits=5, decimal_places=3, default=Decimal("0.000"))

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=F("effective_from")),
                name="ratecard_period_order",
            ),
            models.CheckConstraint(
                condition=Q(base_amount__gte=0)
                & Q(rate_per_minute__gte=0)
                & Q(skill_level_premium__gte=0)
                & Q(vip_premium__gte=0)
                & Q(vulnerable_premium__gte=0)
                & Q(quality_bonus__gte=0)
                & Q(after_contact_allowance_minutes__gte=0)
                & Q(after_contact_cap_minutes__gte=F("after_contact_allowance_minutes"))
                & Q(expected_handle_minutes__gte=0)
                & Q(hourly_reference__gte=0)
                & Q(floor_k__gte=0)
                & Q(floor_a__gte=0),
                name="ratecard_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["currency", "effective_from"], name="ratecard_in_force_idx")]

    def __str__(self):
        return f"rate card v{self.version} ({self.currency})"


class PayLineKind(models.TextChoices):
    BASE = "base"
    TIME = "time"
    PREMIUM = "premium"
    SURGE = "surge"
    FLOOR_TOPUP = "floor_topup", "Top-up to the offered estimate"
    QUALITY_BONUS = "quality_bonus"
    ADJUSTMENT = "adjustment"
    EARNINGS_FLOOR_TOPUP = "earnings_floor_topup", "Earnings floor top-up"
    SHIFT_GUARANTEE_TOPUP = "shift_guarantee_topup", "Shift guarantee top-up"
    TRANSFER_PART = "transfer_part", "Your part before a transfer"


# Kinds written at most once per ticket (by the pay task, or the CSAT bonus).
ONCE_PER_TICKET_KINDS = [
    PayLineKind.BASE,
    PayLineKind.TIME,
    PayLineKind.PREMIUM,
    PayLineKind.SURGE,
    PayLineKind.FLOOR_TOPUP,
    PayLineKind.QUALITY_BONUS,
]
# Earnings the floor compares against: pay for work, not bonuses or earlier floor top-ups. A shift
# guarantee top-up counts as earnings, so the floor never pays the same shortfall a second time.
FLOOR_EARNING_KINDS = [
    PayLineKind.TRANSFER_PART,
    PayLineKind.BASE,
    PayLineKind.TIME,
    PayLineKind.PREMIUM,
    PayLineKind.SURGE,
    PayLineKind.FLOOR_TOPUP,
    PayLineKind.ADJUSTMENT,
    PayLineKind.SHIFT_GUARANTEE_TOPUP,
]
# Ticket earnings a shift's hourly guarantee compares against: pay for the work itself (the offered
# estimate's top-up included), not quality bonuses, adjustments or other top-ups.
SHIFT_GUARANTEE_EARNING_KINDS = [
    PayLineKind.TRANSFER_PART,
    PayLineKind.BASE,
    PayLineKind.TIME,
    PayLineKind.PREMIUM,
    PayLineKind.SURGE,
    PayLineKind.FLOOR_TOPUP,
]


class PayLine(models.Model):
    """One line of an agent's pay. Append-only: the database refuses UPDATE and DELETE."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="pay_lines")
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.PROTECT, related_name="pay_lines"
    )
    kind = models.CharField(max_length=24, choices=PayLineKind.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    explanation = models.TextField()
    inputs = models.JSONField(default=dict, blank=True)
    rate_card = models.ForeignKey(RateCard, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Adjustments: who entered it and why (required, see payouts.services.pay_adjustment_create).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    # Earnings-floor top-ups: the Monday that starts the period they top up.
    period_start = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "kind"],
                condition=Q(kind__in=ONCE_PER_TICKET_KINDS),
                name="payline_once_per_ticket_kind",
            ),
            models.UniqueConstraint(
                fields=["agent", "period_start"],
                condition=Q(kind="earnings_floor_topup"),
                name="payline_floor_topup_once_per_period",
            ),
            models.CheckConstraint(
                condition=~Q(kind="adjustment") | ~Q(reason=""), name="payline_adjustment_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(kind="adjustment") | Q(amount__gte=0), name="payline_only_adjustments_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "created_at"], name="payline_agent_idx"),
            models.Index(fields=["currency", "created_at"], name="payline_period_idx"),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount} {self.currency}"


class TicketPay(models.Model):
    """The "pay computed" marker of a ticket: its unique ticket makes the pay task write exactly once."""

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.PROTECT, primary_key=True, related_name="pay")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="ticket_pays")
    rate_card = models.ForeignKey(RateCard, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    surge = models.DecimalField(max_digits=4, decimal_places=2)
    estimate_amount = models.DecimalField(**MONEY)
    actual_amount = models.DecimalField(**MONEY)
    final_amount = models.DecimalField(**MONEY)
    engaged_seconds = models.PositiveIntegerField()
    after_contact_seconds = models.PositiveIntegerField()
    work_started_at = models.DateTimeField()
    work_ended_at = models.DateTimeField(db_index=True)
    computed_at = models.DateTimeField(default=timezone.now)


class AssignmentPartPay(models.Model):
    """The "paid" marker of one agent's part of a ticket they passed on (a warm transfer): its unique
    assignment makes that part paid exactly once. The ticket's own pay (TicketPay) pays the final holder
    for their part; each agent is paid for the time they were engaged."""

    assignment = models.OneToOneField(
        "tickets.Assignment", on_delete=models.PROTECT, primary_key=True, related_name="part_pay"
    )
    pay_line = models.OneToOneField(PayLine, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField(default=timezone.now)


class EarningsPeriodClose(models.Model):
    """One agent's weekly period, closed once (unique) by the beat task, with the floor's inputs."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="period_closes")
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    rate_card = models.ForeignKey(RateCard, on_delete=models.PROTECT, related_name="+")
    earnings = models.DecimalField(**MONEY)
    engaged_seconds = models.PositiveBigIntegerField()
    available_seconds = models.PositiveBigIntegerField()
    # Agent.online_seconds is a running counter; its value at close lets the next period take the difference.
    online_seconds_at_close = models.PositiveBigIntegerField()
    floor_amount = models.DecimalField(**MONEY)
    topup_amount = models.DecimalField(**MONEY)
    closed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "period_start"], name="period_close_once_per_agent"),
        ]


class ShiftGuaranteeClose(models.Model):
    """A booked shift's hourly guarantee, settled once per booking (the one-to-one booking is the
    database's "exactly once") after the shift ended, with every input of the computation. Written even
    when no top-up is due, so the agent sees that the guarantee was met."""

    booking = models.OneToOneField(
        "agents.ShiftBooking", on_delete=models.PROTECT, primary_key=True, related_name="guarantee_close"
    )
    shift = models.ForeignKey("agents.Shift", on_delete=models.PROTECT, related_name="guarantee_closes")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="shift_guarantee_closes")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField(db_index=True)
    currency = models.CharField(max_length=3)
    hourly_guarantee = models.DecimalField(max_digits=8, decimal_places=2)
    online_seconds = models.PositiveIntegerField()
    online_hours = models.DecimalField(max_digits=6, decimal_places=2)
    guarantee_amount = models.DecimalField(**MONEY)
    earnings = models.DecimalField(**MONEY)
    topup_amount = models.DecimalField(**MONEY)
    # The online stretches inside the window, clipped to it: [[start, end], ...] as ISO 8601.
    intervals = models.JSONField(default=list, blank=True)
    explanation = models.TextField()
    pay_line = models.OneToOneField(
        PayLine, null=True, blank=True, on_delete=models.PROTECT, related_name="shift_guarantee_close"
    )
    closed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(window_end__gt=F("window_start")), name="guarantee_window_order"),
            models.CheckConstraint(
                condition=Q(topup_amount__gte=0) & Q(guarantee_amount__gte=0) & Q(earnings__gte=0),
                name="guarantee_amounts_non_negative",
            ),
            # A top-up is paid exactly when one is due.
            models.CheckConstraint(
                condition=Q(topup_amount=0, pay_line__isnull=True) | Q(topup_amount__gt=0, pay_line__isnull=False),
                name="guarantee_topup_has_line",
            ),
        ]
        indexes = [models.Index(fields=["agent", "window_end"], name="guarantee_agent_idx")]


class PayoutBatchStatus(models.TextChoices):
    DRAFT = "draft"
    APPROVED = "approved"
    PAID = "paid"


class PayoutBatch(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=PayoutBatchStatus.choices, default=PayoutBatchStatus.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Payable items only (held items are listed but not paid).
    total_amount = models.DecimalField(**MONEY, default=Decimal("0.00"))
    item_count = models.PositiveIntegerField(default=0)
    held_count = models.PositiveIntegerField(default=0)
    held_amount = models.DecimalField(**MONEY, default=Decimal("0.00"))
    # Fixed at creation so that every export of the batch has the same ids (and the same bytes).
    message_id = models.CharField(max_length=35, unique=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="batch_period_order"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("created_by")),
                name="batch_four_eyes",
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self):
        return f"batch {self.period_start}..{self.period_end} {self.currency} ({self.status})"


class PayoutItemStatus(models.TextChoices):
    PAYABLE = "payable"
    HELD = "held"


class PayoutItem(models.Model):
    """One agent's total in a batch, with the payout details as they were when the batch was built
    (what the approver saw is what is exported)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(PayoutBatch, on_delete=models.CASCADE, related_name="items")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="payout_items")
    position = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=PayoutItemStatus.choices)
    held_reason = models.TextField(blank=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    line_count = models.PositiveIntegerField(default=0)
    reference = models.CharField(max_length=35)
    agent_name = models.CharField(max_length=100, default="")
    holder = models.CharField(max_length=70, blank=True)
    iban = models.CharField(max_length=34, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    street = models.CharField(max_length=70, blank=True)
    postcode = models.CharField(max_length=16, blank=True)
    town = models.CharField(max_length=35, blank=True)
    country = models.CharField(max_length=2, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "agent"], name="payout_item_once_per_agent"),
            models.UniqueConstraint(fields=["batch", "position"], name="payout_item_position_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_item_positive"),
        ]
        ordering = ["batch", "position"]


class PayoutItemLine(models.Model):
    """A ledger line paid by a payable item. The unique line is the database's "never paid twice"."""

    line = models.OneToOneField(PayLine, on_delete=models.PROTECT, primary_key=True, related_name="payout")
    item = models.ForeignKey(PayoutItem, on_delete=models.CASCADE, related_name="lines")


class PayoutExport(models.Model):
    """A file exported from a batch: its SHA-256, so the file the bank got can be proven later. Exports are
    deterministic, so every later export of the same format must hash the same (checked on each export)."""

    batch = models.ForeignKey(PayoutBatch, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    first_exported_at = models.DateTimeField(default=timezone.now)
    first_exported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "format"], name="payout_export_once_per_format")]


class AlgorithmNotice(models.Model):
    """What the EU Platform Work Directive asks platforms to tell workers about automated monitoring and
    decisions: how offers are ranked, what is recorded and for how long, which decisions are automated,
    how pay is computed. Versions are snapshots; a new one is published before it applies."""

    version = models.PositiveIntegerField(unique=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    effective_from = models.DateTimeField()
    # Why (the policy's change reason, the rate card's note, or what a person wrote when publishing).
    changes = models.TextField(blank=True)
    # What differs from the version in force before it, as data (actions.notice.notice_changes), shown in
    # the reader's language by actions.notice.change_lines.
    change_list = models.JSONField(default=list, blank=True)
    content = models.JSONField()

    class Meta:
        ordering = ["-version"]


class AlgorithmNoticeSeen(models.Model):
    notice = models.ForeignKey(AlgorithmNotice, on_delete=models.CASCADE, related_name="seen_by")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["notice", "agent"], name="notice_seen_once")]
