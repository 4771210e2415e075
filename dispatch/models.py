import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


def default_escalation_steps() -> list[dict]:
    return [
        {"after_seconds": 60, "action": "relax_skill_level", "value": 1},
        {"after_seconds": 90, "action": "widen_fanout", "value": 3},
        {"after_seconds": 180, "action": "alert_supervisors", "value": None},
    ]


def default_ranking_weights() -> dict:
    # The shift weight outweighs all the others together (3.5): agents on a booked shift go first.
    return {"skill_fit": 1.0, "quality": 1.0, "fairness": 1.5, "shift": 4.0}


class DispatchPolicy(models.Model):
    """The rules dispatch follows. Never edited: a change is a new version, recorded with who and when."""

    version = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    change_reason = models.TextField(blank=True)

    offer_timeout_seconds = models.PositiveIntegerField(default=20)
    offer_fanout = models.PositiveSmallIntegerField(default=1)
    escalation_steps = models.JSONField(default=default_escalation_steps)
    ranking_weights = models.JSONField(default=default_ranking_weights)
    surge_min = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    surge_max = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("2.00"))
    sla_target_seconds = models.PositiveIntegerField(default=60)
    sla_target_ratio = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.80"))
    presence_grace_seconds = models.PositiveIntegerField(default=30)
    requeue_after_seconds = models.PositiveIntegerField(default=120)
    max_missed_offers_in_row = models.PositiveSmallIntegerField(default=3)
    default_skill_level = models.PositiveSmallIntegerField(default=1)
    # After a resolve or hand-back the agent's slot stays taken this long for after-contact work (notes,
    # follow-ups), unless they say they are ready sooner. 0: free at once.
    wrap_up_seconds = models.PositiveIntegerField(default=30)
    # How long a warm transfer waits for someone to accept it before the sender keeps the customer.
    transfer_timeout_seconds = models.PositiveIntegerField(default=120)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(offer_timeout_seconds__gte=3) & Q(offer_timeout_seconds__lte=300),
                name="policy_offer_timeout_range",
            ),
            models.CheckConstraint(
                condition=Q(offer_fanout__gte=1) & Q(offer_fanout__lte=50), name="policy_fanout_range"
            ),
            models.CheckConstraint(condition=Q(surge_min__lte=models.F("surge_max")), name="policy_surge_bounds"),
            models.CheckConstraint(condition=Q(wrap_up_seconds__lte=900), name="policy_wrap_up_range"),
            models.CheckConstraint(
                condition=Q(transfer_timeout_seconds__gte=10) & Q(transfer_timeout_seconds__lte=1800),
                name="policy_transfer_timeout_range",
            ),
        ]
        verbose_name_plural = "dispatch policies"

    def __str__(self):
        return f"policy v{self.version}"


class OfferStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class WithdrawReason(models.TextChoices):
    EXPIRED = "expired"
    TAKEN = "taken"
    CANCELLED = "cancelled"


class TransferStatus(models.TextChoices):
    PENDING = "pending"  # offered (or waiting for someone free in the pool); the sender still holds it
    ACCEPTED = "accepted"
    DECLINED = "declined"  # the named agent said no
    EXPIRED = "expired"  # nobody accepted within the policy's transfer_timeout_seconds
    WITHDRAWN = "withdrawn"  # the sender took it back
    CANCELLED = "cancelled"  # the ticket moved on otherwise: the customer left, resolved, requeued...


# The documented limit of a transfer's note (README, OpenAPI).
TRANSFER_NOTE_MAX_CHARS = 1000


class Transfer(models.Model):
    """A warm transfer: the holder asks a named agent, or the best free agent of a skill/language pool,
    to take over. The sender keeps the ticket until someone accepts; the offers it makes are ordinary
    offers (Offer.transfer). At most one pending transfer per ticket (the database's last word)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="transfers")
    from_agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="+")
    to_agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_language = models.CharField(max_length=2, blank=True)
    to_skills = models.JSONField(default=list, blank=True)  # skill codes of the pool
    note = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=TransferStatus.choices, default=TransferStatus.PENDING)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Why it ended without an accept, as the sender was told (English record).
    end_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(status="pending"), name="transfer_one_pending_per_ticket"
            ),
            models.CheckConstraint(
                condition=Q(to_agent__isnull=False) | ~Q(to_language=""), name="transfer_has_a_target"
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="transfer_pending_idx", condition=Q(status="pending")),
        ]

    def __str__(self):
        return f"transfer {self.id} ({self.status})"


class Offer(models.Model):
    """A ticket offered to one agent until `expires_at`. The database row, not a timer, is the truth."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="offers")
    status = models.CharField(max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=200, blank=True)
    withdraw_reason = models.CharField(max_length=10, choices=WithdrawReason.choices, blank=True)

    surge = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    pay_estimate_amount = models.DecimalField(max_digits=10, decimal_places=2)
    pay_estimate_currency = models.CharField(max_length=3)
    pay_estimate_detail = models.JSONField(default=dict, blank=True)
    # Why this agent (dispatch.reasons): as codes, rendered in each reader's language and person, and the
    # English text first shown, kept as the record.
    why_codes = models.JSONField(default=list, blank=True)
    why = models.JSONField(default=list)
    decision = models.JSONField(default=dict)
    policy = models.ForeignKey(DispatchPolicy, on_delete=models.PROTECT, related_name="+")
    # Offers made together (fan-out) share a round; the first accept withdraws the rest as "taken".
    round_id = models.UUIDField(default=uuid.uuid4)
    # Set when the offer is a colleague's warm transfer (the ticket stays assigned to them meanwhile).
    transfer = models.ForeignKey(Transfer, null=True, blank=True, on_delete=models.CASCADE, related_name="offers")

    class Meta:
        constraints = [
            # One accept per round of offers (a fan-out's first accept wins). A ticket can be accepted again
            # in a later round once it went back to the queue; "exactly one holder" is the open assignment's
            # unique constraint (tickets.models.Assignment).
            models.UniqueConstraint(
                fields=["round_id"], condition=Q(status="accepted"), name="offer_one_accepted_per_round"
            ),
            models.UniqueConstraint(
                fields=["ticket", "agent"], condition=Q(status="pending"), name="offer_one_pending_per_agent"
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="offer_pending_expiry_idx", condition=Q(status="pending")),
            models.Index(fields=["agent", "status"], name="offer_agent_status_idx"),
            models.Index(fields=["ticket", "created_at"], name="offer_ticket_idx"),
        ]

    def __str__(self):
        return f"offer {self.id} ({self.status})"


class SurgeLevel(models.Model):
    """The smoothed surge multiplier, one row per computation (the latest is in force)."""

    computed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    multiplier = models.DecimalField(max_digits=4, decimal_places=2)
    raw_pressure = models.DecimalField(max_digits=8, decimal_places=3)
    waiting_tickets = models.PositiveIntegerField()
    available_agents = models.PositiveIntegerField()


class SupervisorAlert(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=40)
    ticket = models.ForeignKey("tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE)
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.CASCADE)
    message = models.TextField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "ticket"], name="alert_once_per_ticket_kind"),
        ]
