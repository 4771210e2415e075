import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class TicketStatus(models.TextChoices):
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    HANDED_BACK = "handed_back"


class EscalationReason(models.TextChoices):
    CUSTOMER_REQUEST = "customer_request"
    NEGATIVE_SENTIMENT = "negative_sentiment"
    COMPLEX_CASE = "complex_case"
    SENSITIVE = "sensitive"
    BOT_LOW_CONFIDENCE = "bot_low_confidence"
    POLICY = "policy"


class CustomerTier(models.TextChoices):
    STANDARD = "standard"
    VIP = "vip"


class Ticket(models.Model):
    """A customer the bot handed over. Its status only changes through tickets.lifecycle."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.ForeignKey("agents.Integration", on_delete=models.PROTECT, related_name="tickets")
    external_id = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=TicketStatus.choices, default=TicketStatus.QUEUED)

    customer_ref = models.CharField(max_length=200)
    customer_display_name = models.CharField(max_length=200, blank=True)
    customer_tier = models.CharField(max_length=10, choices=CustomerTier.choices, default=CustomerTier.STANDARD)
    customer_vulnerable = models.BooleanField(default=False)
    language = models.CharField(max_length=2)
    reason = models.CharField(max_length=24, choices=EscalationReason.choices)
    priority = models.PositiveSmallIntegerField(validators=[MinValueValidator(0), MaxValueValidator(3)])
    priority_was_derived = models.BooleanField(default=False)
    sentiment = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    summary = models.TextField(blank=True)
    handoff = models.JSONField(default=dict, blank=True)
    skills_were_inferred = models.BooleanField(default=False)
    skill_inference = models.JSONField(default=list, blank=True)

    # Lifecycle timestamps: waits and handle times are computed from these, exactly.
    # Set by the intake to the same instant as queued_at (not auto_now_add, which would differ by a hair).
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # The place in the queue. A requeued ticket keeps it, so it goes ahead of newer work.
    queued_at = models.DateTimeField(db_index=True)
    first_offered_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The end of the ticket's life: the customer left, or the wrap-up after a resolve or hand-back ended
    # (so closed_at - resolved_at is the wrap-up the agent really took).
    closed_at = models.DateTimeField(null=True, blank=True)

    assigned_agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_tickets"
    )
    # How many skill levels the escalation steps have relaxed so far (see dispatch.escalation).
    skill_relaxation = models.PositiveSmallIntegerField(default=0)
    escalation_steps_done = models.JSONField(default=list, blank=True)
    requeue_count = models.PositiveSmallIntegerField(default=0)
    # When dispatch last looked for an agent for this ticket; the sweep retries only tickets not tried
    # recently, so it does not redo the work the event-driven triggers just did.
    dispatch_attempted_at = models.DateTimeField(null=True, blank=True)
    # Per-ticket counters, bumped by an UPDATE that holds the ticket row until commit, so two writers
    # never take the same number (see tickets.services.message_add, tickets.webhooks).
    last_message_seq = models.PositiveIntegerField(default=0)
    last_webhook_seq = models.PositiveIntegerField(default=0)
    # Messages 1..handoff_transcript_length are the transcript the bot sent; later ones came after.
    handoff_transcript_length = models.PositiveIntegerField(default=0)

    # The bot's conversation this escalation belongs to (Conversation.external_id of the same
    # integration). A plain string, not a key: the bot may escalate before it reports the conversation.
    conversation_id = models.CharField(max_length=200, blank=True)
    topic = models.CharField(max_length=100, blank=True)

    outcome = models.CharField(max_length=12, blank=True)
    resolution_notes = models.TextField(blank=True)
    bot_feedback = models.JSONField(default=dict, blank=True)
    csat_score = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.TextField(blank=True)
    csat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], name="ticket_external_id_unique"),
            models.CheckConstraint(condition=Q(priority__gte=0) & Q(priority__lte=3), name="ticket_priority_range"),
            models.CheckConstraint(
                condition=~Q(status__in=["assigned", "resolved"]) | Q(assigned_agent__isnull=False),
                name="ticket_assigned_has_agent",
            ),
        ]
        indexes = [
            # The queue: what waits, most urgent first, then oldest.
            models.Index(F("priority").desc(), F("queued_at"), name="ticket_queue_idx", condition=Q(status="queued")),
            # Recent throughput for the estimated wait.
            models.Index(fields=["assigned_at"], name="ticket_assigned_at_idx"),
            # A conversation's escalations (re-escalation, the hybrid figures).
            models.Index(
                fields=["integration", "conversation_id"],
                name="ticket_conversation_idx",
                condition=~Q(conversation_id=""),
            ),
        ]

    def __str__(self):
        return f"{self.external_id} ({self.status})"


class AssignmentEnd(models.TextChoices):
    RESOLVED = "resolved"
    HANDED_BACK = "handed_back"
    CANCELLED = "cancelled"  # the customer left while the agent held the ticket
    REQUEUED = "requeued"  # a supervisor put it back in the queue
    AGENT_GONE = "agent_gone"  # the agent was disconnected longer than the policy allows
    REASSIGNED = "reassigned"  # a supervisor gave it to another agent
    TRANSFERRED = "transferred"  # the agent passed it on and the receiver accepted


class Assignment(models.Model):
    """One agent's hold on a ticket: from the moment they got it (an accepted offer, a supervisor's
    reassignment) until their slot is free again. The history of who held a ticket, and the last word on
    "exactly one holder": the database refuses a second open assignment of one ticket.

    `ended_at` is when the agent stopped serving the customer (resolve, hand back, or losing the
    ticket); `released_at` is when their slot was freed, after the wrap-up that follows a resolve or
    hand-back (at once in every other case). An agent's `active_tickets` counts their open assignments.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="assignments")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="assignments")
    # The accepted offer it came from (none for a supervisor's reassignment). A plain id: offers belong to
    # dispatch, which stands above tickets; what pay needs of the offer is copied below.
    offer_id = models.UUIDField(null=True, blank=True)
    # The offer's promise, kept with the work it was made for: the surge in force and the pay estimate,
    # which the final pay never goes below (payouts).
    pay_surge = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    pay_estimate_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    pay_estimate_currency = models.CharField(max_length=3, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=12, choices=AssignmentEnd.choices, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    # While in wrap-up: when it ends on its own (the policy's wrap_up_seconds after ended_at).
    wrap_up_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(released_at__isnull=True), name="assignment_one_open_per_ticket"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="assignment_end_order"
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | (Q(ended_at__isnull=False) & Q(released_at__gte=F("ended_at"))),
                name="assignment_release_after_end",
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "started_at"], name="assignment_agent_idx"),
            models.Index(
                fields=["wrap_up_until"],
                name="assignment_wrap_up_idx",
                condition=Q(released_at__isnull=True, ended_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.agent_id} holds {self.ticket_id} from {self.started_at:%H:%M:%S}"

    @property
    def in_wrap_up(self) -> bool:
        return self.ended_at is not None and self.released_at is None


class TicketSkill(models.Model):
    """A skill the ticket needs, at a minimum level (before any relaxation by the escalation steps)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="required_skills")
    skill = models.ForeignKey("agents.Skill", on_delete=models.PROTECT, related_name="+")
    min_level = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "skill"], name="ticket_skill_unique")]


class Message(models.Model):
    class AuthorKind(models.TextChoices):
        CUSTOMER = "customer"
        BOT = "bot"
        AGENT = "agent"
        SYSTEM = "system"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author_agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.PROTECT)
    text = models.TextField()
    at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "seq"], name="message_ticket_seq_unique")]
        ordering = ["ticket", "seq"]


class SkillKeywordRule(models.Model):
    """The keywords that make the intake infer a skill when the bot named none (tickets.inference).

    One row per skill, written by supervisors (PUT /api/v1/skill-keywords/). A skill without a row uses
    tickets.inference.DEFAULT_SKILL_KEYWORDS; a row with an empty list switches inference off for it.
    """

    skill = models.OneToOneField("agents.Skill", on_delete=models.CASCADE, related_name="keyword_rule")
    keywords = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("agents.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self):
        return f"{self.skill_id}: {', '.join(self.keywords)}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its turn or its next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # retries exhausted (after WEBHOOK_RETRY_WINDOW); a supervisor may redeliver
    SKIPPED = "skipped"  # the integration has no webhook_url


class WebhookDelivery(models.Model):
    """One event for the bot platform, in the order of its ticket (`seq`). The row is the outbox.

    `body` is the exact JSON sent (and signed), fixed when the event is recorded, so every retry sends
    the same bytes with the same delivery id and receivers can dedupe on it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="webhook_deliveries")
    integration = models.ForeignKey("agents.Integration", on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveIntegerField()
    event = models.CharField(max_length=40)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=WebhookDeliveryStatus.choices, default="pending")
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    # A worker sending this row holds it until claimed_until; another worker leaves it alone meanwhile.
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "seq"], name="webhook_ticket_seq_unique")]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_pending_due_idx", condition=Q(status="pending")),
        ]
        ordering = ["ticket", "seq"]

    def __str__(self):
        return f"{self.event} #{self.seq} ({self.status})"


class ConversationOutcome(models.TextChoices):
    CONTAINED = "contained"  # the bot finished it alone
    ESCALATED = "escalated"  # handed to a person (its tickets carry conversation_id)
    ABANDONED = "abandoned"  # the customer left before either


class Conversation(models.Model):
    """A conversation the bot handled, as the bot platform reports it (POST /api/v1/conversations/):
    the denominator of the hybrid figures. One row per (integration, external_id); a report of the
    same conversation again updates its outcome, CSAT and end."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.ForeignKey("agents.Integration", on_delete=models.PROTECT, related_name="conversations")
    external_id = models.CharField(max_length=200)
    language = models.CharField(max_length=2)
    outcome = models.CharField(max_length=10, choices=ConversationOutcome.choices)
    topic = models.CharField(max_length=100, blank=True)
    # The bot's CSAT for the conversation (for an escalated one, the customer's rating of the bot part).
    csat = models.PositiveSmallIntegerField(null=True, blank=True)
    # For repeat contact: the same customer again within 7 days.
    customer_ref = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], name="conversation_external_id_unique"),
            models.CheckConstraint(
                condition=Q(csat__isnull=True) | (Q(csat__gte=1) & Q(csat__lte=5)), name="conversation_csat_range"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="conversation_end_order"
            ),
        ]
        indexes = [models.Index(fields=["integration", "customer_ref", "started_at"], name="conversation_customer_idx")]

    def __str__(self):
        return f"{self.external_id} ({self.outcome})"


class CoachingGroupSent(models.Model):
    """A supervisor passed one group of the agents' bot feedback (a topic and an escalation reason, over a
    period) to the bot team. Kept so the coaching view says what was sent, when and by whom; the act is
    also in the audit log."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    topic = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=24, choices=EscalationReason.choices)
    period_from = models.DateTimeField()
    period_to = models.DateTimeField()
    tickets = models.PositiveIntegerField()
    sent_by = models.ForeignKey("agents.User", on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["topic", "reason", "sent_at"], name="coaching_sent_group_idx")]

    def __str__(self):
        return f"{self.topic or '-'} / {self.reason} sent {self.sent_at:%Y-%m-%d}"
# The documented limits (README, OpenAPI).
NOTE_MAX_CHARS = 2000
CANNED_TITLE_MAX_CHARS = 100
CANNED_TEXT_MAX_CHARS = 2000
# What a canned response may ask to be filled in when it is inserted; any other {name} is refused.
CANNED_PLACEHOLDERS = ("customer_name", "agent_name")


class TicketNote(models.Model):
    """An internal note on a ticket: for whoever holds it later and for supervisors. Never sent to the
    bot platform (no webhook carries it) and never in anything the integration can read."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey("agents.User", on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["ticket", "at"], name="note_ticket_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="note_not_empty"),
        ]


class CannedResponse(models.Model):
    """A prepared reply an agent inserts and edits before sending: shared ones (owner empty) are managed by
    supervisors per language, personal ones by their agent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="canned_responses"
    )
    language = models.CharField(max_length=2)
    title = models.CharField(max_length=CANNED_TITLE_MAX_CHARS)
    text = models.TextField()
    created_by = models.ForeignKey("agents.User", on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["language", "owner"], name="canned_language_owner_idx")]

    @property
    def shared(self) -> bool:
        return self.owner_id is None
