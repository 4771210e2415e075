import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, ExpressionWrapper, F, OuterRef, Q, Subquery, When
from django.utils.functional import cached_property


class Role(models.TextChoices):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    FINANCE = "finance"
    INTEGRATION = "integration"


class User(AbstractUser):
    """A person or an integration's service account. The role is the user's group (see Role)."""

    @cached_property
    def role(self) -> str:
        names = {group.name for group in self.groups.all()}
        return next((role.value for role in Role if role.value in names), "")

    def has_role(self, *roles: str) -> bool:
        return self.is_authenticated and self.role in roles


def user_role_subquery(user_ref: str) -> Subquery:
    """`User.role` of the user at `user_ref`, as a subquery: read with the user (every authenticated
    request does), it saves the request a query on the user's groups."""
    precedence = Case(*(When(name=role.value, then=index) for index, role in enumerate(Role)))
    return Subquery(
        Group.objects.filter(user=OuterRef(user_ref), name__in=Role.values).order_by(precedence).values("name")[:1]
    )


class Skill(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)

    def __str__(self):
        return self.code


# How many tickets an agent may hold at once: the one place the range is written (model, constraint,
# API, pages and the load simulator read it from here).
MAX_CONCURRENT_MIN, MAX_CONCURRENT_MAX = 1, 10


class Agent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        ACTIVE = "active"
        SUSPENDED = "suspended"

    class Presence(models.TextChoices):
        ONLINE = "online"
        AWAY = "away"
        OFFLINE = "offline"
        # The agent's own pauses: offered nothing, their tickets stay theirs. A break has a reason and a
        # planned end (break_until) the console counts down to; "no new work" finishes what they hold.
        BREAK = "break"
        NO_NEW_WORK = "no_new_work"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="agent")
    display_name = models.CharField(max_length=100)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.TextField(blank=True)
    max_concurrent = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(MAX_CONCURRENT_MIN), MaxValueValidator(MAX_CONCURRENT_MAX)]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Presence: what the agent chose, and whether any of their sockets is open. Maintained by
    # agents.presence; the sweep repairs it after a process died without saying goodbye.
    presence = models.CharField(max_length=12, choices=Presence.choices, default=Presence.OFFLINE)
    presence_changed_at = models.DateTimeField(null=True, blank=True)
    presence_reason = models.CharField(max_length=200, blank=True)
    break_until = models.DateTimeField(null=True, blank=True)
    open_sockets = models.PositiveIntegerField(default=0)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    online_seconds = models.PositiveBigIntegerField(default=0)

    # Load and fairness counters, updated in the same transaction as the event they count, so that
    # eligibility and ranking are answered from this row and an index, never by counting history.
    active_tickets = models.PositiveSmallIntegerField(default=0)
    has_capacity = models.GeneratedField(
        expression=Q(active_tickets__lt=F("max_concurrent")),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    # Set while an offer to this agent is pending: an agent is offered one ticket at a time, and the
    # dispatcher claims this flag with a conditional UPDATE so two dispatchers cannot both offer.
    has_pending_offer = models.BooleanField(default=False)
    last_offer_at = models.DateTimeField(null=True, blank=True)
    offers_received = models.PositiveIntegerField(default=0)
    missed_offers_in_row = models.PositiveSmallIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    csat_count = models.PositiveIntegerField(default=0)

    payout_holder = models.CharField(max_length=70, blank=True)
    payout_iban = models.CharField(max_length=34, blank=True)
    payout_bic = models.CharField(max_length=11, blank=True)
    payout_street = models.CharField(max_length=70, blank=True)
    payout_postcode = models.CharField(max_length=16, blank=True)
    payout_town = models.CharField(max_length=35, blank=True)
    payout_country = models.CharField(max_length=2, blank=True)

    notification_preferences = models.JSONField(default=dict, blank=True)
    # The language the console and everything the server writes for the agent are in ("": the browser's),
    # and the time zone times are shown in ("": the browser's).
    ui_language = models.CharField(max_length=8, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    # Set once, when a supervisor replaced the departed agent's personal data (actions.people.agent_pseudonymise).
    pseudonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_concurrent__gte=MAX_CONCURRENT_MIN) & Q(max_concurrent__lte=MAX_CONCURRENT_MAX),
                name="agent_max_concurrent_range",
            ),
        ]
        indexes = [
            # The dispatcher's shortlist, read in index order: agents free for an offer, never offered
            # first, then the longest wait since the last offer (dispatch.selectors.SHORTLIST_ORDER).
            # `IS NOT NULL` stands for NULLS FIRST, which SQLite cannot put in an index.
            models.Index(
                ExpressionWrapper(Q(last_offer_at__isnull=False), output_field=models.BooleanField()),
                F("last_offer_at"),
                F("id"),
                name="agent_dispatchable_idx",
                condition=Q(status="active", presence="online", open_sockets__gt=0, has_pending_offer=False),
            ),
            models.Index(fields=["presence", "open_sockets"], name="agent_presence_idx"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def has_valid_payout_details(self) -> bool:
        from agents.payout_details import payout_details_problem

        return payout_details_problem(self) is None


class AgentSkill(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="skill_levels")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="agent_levels")
    level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    certified_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    certified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="agent_skill_unique"),
            models.CheckConstraint(condition=Q(level__gte=1) & Q(level__lte=5), name="agent_skill_level_range"),
        ]
        indexes = [models.Index(fields=["skill", "level", "agent"], name="agent_skill_lookup_idx")]


class AgentLanguage(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="language_rows")
    code = models.CharField(max_length=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "code"], name="agent_language_unique")]
        indexes = [models.Index(fields=["code", "agent"], name="agent_language_lookup_idx")]


class AgentConnection(models.Model):
    """One open websocket of an agent. Several tabs are several rows and still one agent."""

    channel_name = models.CharField(max_length=200, primary_key=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="connections")
    connected_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()


class PresenceInterval(models.Model):
    """A stretch of time an agent was online, from going online to leaving it (open while still online).

    Written by agents.presence.presence_set in the same transaction as the presence change (repaired by
    the presence sweep); pay reads it to know how long an agent was online inside a booked shift.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="presence_intervals")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent"], condition=Q(ended_at__isnull=True), name="presence_interval_one_open"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="presence_interval_order",
            ),
        ]
        indexes = [models.Index(fields=["agent", "started_at"], name="presence_interval_agent_idx")]

    def __str__(self):
        return f"{self.agent_id} online {self.started_at:%Y-%m-%d %H:%M}-{self.ended_at or '...'}"


class Integration(models.Model):
    """An API client such as the AI bot platform. Acts through its own service user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="integration")
    token_hash = models.CharField(max_length=64, unique=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class PersonToken(models.Model):
    """A bearer token issued to a person by POST /api/v1/auth/token/. Only its hash is stored."""

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    created_at = models.DateTimeField(auto_now_add=True)


class SuspensionAppeal(models.Model):
    """An agent's answer to a suspension, decided by a supervisor other than the one who suspended."""

    class Status(models.TextChoices):
        PENDING = "pending"
        REINSTATED = "reinstated"  # the appeal was granted: the agent is active again
        UPHELD = "upheld"  # the suspension stands

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="appeals")
    text = models.TextField()
    submitted_at = models.DateTimeField(auto_now_add=True)
    suspended_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    suspension_reason = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent"], condition=Q(status="pending"), name="appeal_one_pending"),
            # Four eyes, as the database's last word (the service refuses first, with the reason).
            models.CheckConstraint(condition=~Q(decided_by=F("suspended_by")), name="appeal_decided_by_other"),
        ]


class Shift(models.Model):
    """A slot supervisors publish and agents book: a time window, what it needs, how many places, and an
    hourly minimum-earnings guarantee for agents online through it (paid by payouts, not here).

    `booked_count` is moved only by conditional UPDATEs (agents.shifts), so places are never overbooked.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    languages = models.JSONField(default=list, blank=True)
    skills = models.JSONField(default=list, blank=True)
    places = models.PositiveSmallIntegerField()
    booked_count = models.PositiveSmallIntegerField(default=0)
    hourly_guarantee_amount = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0.00"))
    hourly_guarantee_currency = models.CharField(max_length=3, default="EUR")
    note = models.CharField(max_length=200, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"),
            models.CheckConstraint(condition=Q(places__gte=1), name="shift_places_positive"),
            models.CheckConstraint(condition=Q(booked_count__lte=models.F("places")), name="shift_not_overbooked"),
            models.CheckConstraint(condition=Q(hourly_guarantee_amount__gte=0), name="shift_guarantee_not_negative"),
        ]
        db_table = "dispatch_shift"  # kept when shifts moved from dispatch to agents

    def __str__(self):
        return f"shift {self.starts_at:%Y-%m-%d %H:%M}-{self.ends_at:%H:%M} ({self.booked_count}/{self.places})"


class ShiftBooking(models.Model):
    """An agent's place on a shift. Releasing deletes the row (the audit log keeps the history)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="bookings")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="shift_bookings")
    booked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shift", "agent"], name="shift_booking_once_per_agent")]
        db_table = "dispatch_shiftbooking"  # kept when shifts moved from dispatch to agents
