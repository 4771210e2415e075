"""Shifts: supervisors publish slots, agents claim and release places.

Rules (also shown to agents):
- a shift ends after it starts, lasts at most 24 hours, has at least one place and does not start in
  the past; the hourly guarantee is a non-negative amount in a three-letter currency. A refused shift
  is not stored at all.
- an agent may claim a place while the shift has not started, if they are active, speak at least one of
  its languages (when it names any), hold every skill it names (any level), and have no other booked
  shift overlapping it. Places are claimed by a conditional UPDATE (`booked_count < places`), so two
  agents racing for the last place cannot both get it.
- a place can be released up to RELEASE_CUTOFF (2 hours) before the start; later the agent is counted
  on, and must ask a supervisor.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.models import Agent, AgentLanguage, AgentSkill, Shift, ShiftBooking, Skill
from core.audit import audit_record
from core.errors import DomainError, InvalidInput, NotFound
from core.events import send_to_agent_on_commit

RELEASE_CUTOFF = timedelta(hours=2)
MAX_SHIFT_LENGTH = timedelta(hours=24)


@transaction.atomic
def shift_publish(
    *,
    actor,
    starts_at: datetime,
    ends_at: datetime,
    places: int,
    languages: list[str] | None = None,
    skills: list[str] | None = None,
    hourly_guarantee_amount: Decimal = Decimal("0.00"),
    hourly_guarantee_currency: str = "EUR",
    note: str = "",
) -> Shift:
    """Publish a shift; every problem is reported at once and nothing is stored when there is one."""
    errors: dict[str, list[str]] = {}
    now = timezone.now()
    languages = sorted({code.strip().lower() for code in languages or [] if code.strip()})
    skills = sorted({code.strip() for code in skills or [] if code.strip()})
    if starts_at is None:
        errors["starts_at"] = ["When does the shift start?"]
    if ends_at is None:
        errors["ends_at"] = ["When does the shift end?"]
    if starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            errors["ends_at"] = ["The shift must end after it starts."]
        elif ends_at - starts_at > MAX_SHIFT_LENGTH:
            errors["ends_at"] = ["A shift lasts at most 24 hours."]
    if starts_at is not None and starts_at < now:
        errors["starts_at"] = ["The shift cannot start in the past."]
    if places is None or places < 1:
        errors["places"] = ["A shift needs at least one place."]
    elif places > 500:
        errors["places"] = ["At most 500 places per shift."]
    bad_languages = [code for code in languages if len(code) != 2 or not code.isalpha()]
    if bad_languages:
        errors["languages"] = [f"'{code}' is not a two-letter language code." for code in bad_languages]
    unknown = sorted(set(skills) - set(Skill.objects.filter(code__in=skills).values_list("code", flat=True)))
    if unknown:
        errors["skills"] = [f"Unknown skill code: {code}." for code in unknown]
    if hourly_guarantee_amount is None or hourly_guarantee_amount < 0:
        errors["hourly_guarantee_amount"] = ["The hourly guarantee cannot be negative."]
    currency = (hourly_guarantee_currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        errors["hourly_guarantee_currency"] = ["Use a three-letter ISO 4217 code, e.g. EUR."]
    if errors:
        raise InvalidInput(errors, message="The shift was not published: " + " ".join(sum(errors.values(), [])))
    shift = Shift.objects.create(
        starts_at=starts_at,
        ends_at=ends_at,
        places=places,
        languages=languages,
        skills=skills,
        hourly_guarantee_amount=hourly_guarantee_amount,
        hourly_guarantee_currency=currency,
        note=note[:200],
        published_by=actor,
    )
    audit_record(
        actor=actor,
        action="shift.published",
        subject=shift,
        data={
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "places": places,
            "languages": languages,
            "skills": skills,
            "hourly_guarantee": f"{hourly_guarantee_amount:.2f} {currency}",
        },
    )
    return shift


@transaction.atomic
def shift_cancel(*, shift_id, actor, reason: str) -> Shift:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": ["A reason is required: the booked agents are told it."]})
    updated = Shift.objects.filter(pk=shift_id, cancelled_at__isnull=True).update(cancelled_at=timezone.now())
    shift = Shift.objects.filter(pk=shift_id).first()
    if shift is None:
        raise NotFound("No such shift.")
    if not updated:
        raise DomainError("shift_cancelled", "The shift is cancelled already.")

    for agent_id in shift.bookings.values_list("agent_id", flat=True):
        send_to_agent_on_commit(agent_id, {"type": "shift_cancelled", "shift_id": str(shift.pk), "reason": reason})
    audit_record(actor=actor, action="shift.cancelled", subject=shift, reason=reason)
    return shift


def claim_problems(*, shift: Shift, agent: Agent, now=None) -> list[str]:
    """Why `agent` may not claim a place on `shift` (empty: they may, if a place is left)."""
    now = now or timezone.now()
    problems = []
    if shift.cancelled_at is not None:
        problems.append("The shift was cancelled.")
    if shift.starts_at <= now:
        problems.append("The shift has started already.")
    if agent.status != Agent.Status.ACTIVE:
        problems.append(f"Your account is {agent.status}.")
    if shift.languages and not AgentLanguage.objects.filter(agent=agent, code__in=shift.languages).exists():
        problems.append(f"The shift needs one of these languages: {', '.join(shift.languages)}.")
    if shift.skills:
        held = set(
            AgentSkill.objects.filter(agent=agent, skill__code__in=shift.skills).values_list("skill__code", flat=True)
        )
        missing = [code for code in shift.skills if code not in held]
        if missing:
            problems.append(f"The shift needs these skills: {', '.join(missing)}.")
    overlapping = (
        ShiftBooking.objects.filter(agent=agent, shift__cancelled_at__isnull=True)
        .exclude(shift=shift)
        .filter(Q(shift__starts_at__lt=shift.ends_at) & Q(shift__ends_at__gt=shift.starts_at))
    )
    if overlapping.exists():
        problems.append("You have booked another shift at that time.")
    return problems


@transaction.atomic
def shift_claim(*, shift_id, agent: Agent) -> ShiftBooking:
    """Book a place for `agent`. The place is taken by a conditional UPDATE; the unique (shift, agent)
    constraint refuses a second booking of the same agent, also when two requests race."""
    shift = Shift.objects.filter(pk=shift_id).first()
    if shift is None:
        raise NotFound("No such shift.")
    if ShiftBooking.objects.filter(shift=shift, agent=agent).exists():
        raise DomainError("already_booked", "You have a place on this shift already.")
    problems = claim_problems(shift=shift, agent=agent)
    if problems:
        raise DomainError("shift_unavailable", " ".join(problems), fields={"shift": problems})
    now = timezone.now()
    taken = Shift.objects.filter(
        pk=shift.pk, cancelled_at__isnull=True, starts_at__gt=now, booked_count__lt=F("places")
    ).update(booked_count=F("booked_count") + 1)
    if not taken:
        raise DomainError("shift_full", "Every place on this shift is taken.")
    try:
        with transaction.atomic():
            booking = ShiftBooking.objects.create(shift=shift, agent=agent)
    except IntegrityError as exc:
        raise DomainError("already_booked", "You have a place on this shift already.") from exc
    audit_record(actor=agent.user, action="shift.claimed", subject=shift, data={"agent": str(agent.pk)})
    return booking


@transaction.atomic
def shift_release(*, shift_id, agent: Agent) -> Shift:
    """Give a place back, up to RELEASE_CUTOFF before the start."""
    shift = Shift.objects.filter(pk=shift_id).first()
    if shift is None:
        raise NotFound("No such shift.")
    if timezone.now() > shift.starts_at - RELEASE_CUTOFF:
        raise DomainError(
            "release_too_late",
            "A place can be released up to 2 hours before the shift starts; ask a supervisor now.",
        )
    deleted, _ = ShiftBooking.objects.filter(shift=shift, agent=agent).delete()
    if not deleted:
        raise DomainError("not_booked", "You have no place on this shift.")
    Shift.objects.filter(pk=shift.pk, booked_count__gt=0).update(booked_count=F("booked_count") - 1)
    shift.refresh_from_db()
    audit_record(actor=agent.user, action="shift.released", subject=shift, data={"agent": str(agent.pk)})
    return shift


def shifts_upcoming(*, now=None, days: int = 14):
    now = now or timezone.now()
    return (
        Shift.objects.filter(ends_at__gt=now, starts_at__lt=now + timedelta(days=days))
        .prefetch_related("bookings__agent")
        .order_by("starts_at")
    )
