"""Writes about people and integrations. Each entry point is one transaction and keeps one invariant."""

import functools
import secrets
from zoneinfo import available_timezones

from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from agents.events import agent_status_push
from agents.locks import agent_lock
from agents.models import (
    Agent,
    AgentLanguage,
    AgentSkill,
    Integration,
    PersonToken,
    Role,
    Skill,
    User,
)
from agents.payout_details import normalise_bic, normalise_iban
from agents.tokens import INTEGRATION_PREFIX, PERSON_PREFIX, new_token, token_hash
from core.audit import audit_record
from core.errors import DomainError, InvalidInput


def _group(role: str) -> Group:
    group, _ = Group.objects.get_or_create(name=role)
    return group


def user_create(*, username: str, password: str | None, role: str, **fields) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInput({"username": [f"The username '{username}' is taken."]})
    user = User(username=username, **fields)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise InvalidInput({"username": [f"The username '{username}' is taken."]}) from exc
    user.groups.add(_group(role))
    return user


@transaction.atomic
def skill_create(*, code: str, name: str, actor=None) -> Skill:
    if Skill.objects.filter(code=code).exists():
        raise InvalidInput({"code": [f"A skill with code '{code}' exists already."]})
    skill = Skill.objects.create(code=code, name=name)
    audit_record(actor=actor, action="skill.created", subject=skill, data={"code": code, "name": name})
    return skill


def _skills_by_code(codes) -> dict[str, Skill]:
    skills = {skill.code: skill for skill in Skill.objects.filter(code__in=list(codes))}
    unknown = sorted(set(codes) - set(skills))
    if unknown:
        raise InvalidInput({"skills": [f"Unknown skill code: {code}." for code in unknown]})
    return skills


def _set_skill_levels(agent: Agent, levels: dict[str, int], *, certified_by) -> None:
    skills = _skills_by_code(levels)
    AgentSkill.objects.filter(agent=agent).exclude(skill__code__in=list(levels)).delete()
    now = timezone.now()
    for code, level in levels.items():
        AgentSkill.objects.update_or_create(
            agent=agent,
            skill=skills[code],
            defaults={"level": level, "certified_by": certified_by, "certified_at": now},
        )


def _set_languages(agent: Agent, languages: list[str]) -> None:
    AgentLanguage.objects.filter(agent=agent).exclude(code__in=languages).delete()
    AgentLanguage.objects.bulk_create(
        [AgentLanguage(agent=agent, code=code) for code in languages], ignore_conflicts=True
    )


@transaction.atomic
def agent_create(
    *,
    username: str,
    password: str,
    display_name: str,
    languages: list[str],
    skills: dict[str, int],
    max_concurrent: int = 1,
    actor=None,
) -> Agent:
    """A new, active agent with certified skill levels; recorded in the audit log."""
    _skills_by_code(skills)
    user = user_create(username=username, password=password, role=Role.AGENT)
    agent = Agent.objects.create(user=user, display_name=display_name, max_concurrent=max_concurrent)
    _set_languages(agent, languages)
    _set_skill_levels(agent, skills, certified_by=actor)
    audit_record(
        actor=actor,
        action="agent.created",
        subject=agent,
        data={"languages": languages, "skills": skills, "max_concurrent": max_concurrent},
    )
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, actor, languages=None, skills=None, max_concurrent=None, display_name=None) -> Agent:
    # The audit log is append-only and outlives pseudonymisation: it records that the name changed, not
    # the names (the agent row holds the current one).
    former_display_name = agent.display_name
    before = {
        "languages": sorted(agent.language_rows.values_list("code", flat=True)),
        "skills": dict(agent.skill_levels.values_list("skill__code", "level")),
        "max_concurrent": agent.max_concurrent,
    }
    if skills is not None:
        _set_skill_levels(agent, skills, certified_by=actor)
    if languages is not None:
        _set_languages(agent, languages)
    if max_concurrent is not None:
        agent.max_concurrent = max_concurrent
    if display_name is not None:
        agent.display_name = display_name
    agent.save(update_fields=["max_concurrent", "display_name"])
    after = {
        "languages": sorted(agent.language_rows.values_list("code", flat=True)),
        "skills": dict(agent.skill_levels.values_list("skill__code", "level")),
        "max_concurrent": agent.max_concurrent,
    }
    data = {"before": before, "after": after, "display_name_changed": agent.display_name != former_display_name}
    audit_record(actor=actor, action="agent.updated", subject=agent, data=data)
    return agent


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": ["A reason is required: the agent is told it."]})
    return reason


@transaction.atomic
def agent_suspend(*, agent: Agent, actor, reason: str) -> Agent:
    """Suspend: no more offers. A person's decision, recorded with who and why; the agent is told."""

    reason = _require_reason(reason)
    updated = (
        Agent.objects.filter(pk=agent.pk)
        .exclude(status=Agent.Status.SUSPENDED)
        .update(status=Agent.Status.SUSPENDED, status_reason=reason)
    )
    if not updated:
        raise DomainError("already_suspended", "The agent is suspended already.")
    agent.refresh_from_db()
    audit_record(actor=actor, action="agent.suspended", subject=agent, reason=reason)
    agent_status_push(agent=agent)
    return agent


@transaction.atomic
def agent_reinstate(*, agent: Agent, actor, reason: str) -> Agent:

    reason = _require_reason(reason)
    updated = Agent.objects.filter(pk=agent.pk, status=Agent.Status.SUSPENDED, pseudonymised_at__isnull=True).update(
        status=Agent.Status.ACTIVE, status_reason=reason
    )
    if not updated:
        if Agent.objects.filter(pk=agent.pk, pseudonymised_at__isnull=False).exists():
            raise DomainError("pseudonymised", "This agent has left and was pseudonymised; they cannot be reinstated.")
        raise DomainError("not_suspended", "Only a suspended agent can be reinstated.")
    agent.refresh_from_db()
    audit_record(actor=actor, action="agent.reinstated", subject=agent, reason=reason)
    agent_status_push(agent=agent)
    return agent


@transaction.atomic
def integration_create(*, name: str, webhook_url: str = "", actor=None, token: str | None = None):
    """Returns (integration, token). The token is shown once; only its hash is kept."""
    if Integration.objects.filter(name=name).exists():
        raise InvalidInput({"name": [f"An integration named '{name}' exists already."]})
    token = token or new_token(INTEGRATION_PREFIX)
    user = user_create(username=f"integration-{name}", password=None, role=Role.INTEGRATION)
    integration = Integration.objects.create(
        name=name,
        user=user,
        token_hash=token_hash(token),
        webhook_url=webhook_url,
        webhook_secret=secrets.token_urlsafe(32),
    )
    audit_record(actor=actor, action="integration.created", subject=integration, data={"webhook_url": webhook_url})
    return integration, token


def person_token_issue(*, user: User) -> str:
    token = new_token(PERSON_PREFIX)
    PersonToken.objects.create(user=user, key_hash=token_hash(token))
    return token


@transaction.atomic
def payout_details_set(*, agent: Agent, holder: str, iban: str, bic: str, address: dict | None = None) -> Agent:
    errors: dict[str, list[str]] = {}
    holder = (holder or "").strip()
    if not holder:
        errors["holder"] = ["The account holder's name is required."]
    compact_iban, iban_error = normalise_iban(iban or "")
    if iban_error:
        errors["iban"] = [iban_error]
    compact_bic, bic_error = normalise_bic(bic or "", iban=compact_iban)
    if bic_error:
        errors["bic"] = [bic_error]
    if errors:
        raise InvalidInput(errors)
    address = address or {}
    agent.payout_holder = holder
    agent.payout_iban = compact_iban
    agent.payout_bic = compact_bic
    agent.payout_street = address.get("street", "")
    agent.payout_postcode = address.get("postcode", "")
    agent.payout_town = address.get("town", "")
    agent.payout_country = address.get("country", "")
    agent.save()
    audit_record(actor=agent.user, action="agent.payout_details_changed", subject=agent)
    return agent


# ---------------------------------------------------------------- capacity


def agent_capacity_claim(*, agent_id, **also) -> bool:
    """Take one of the agent's slots for a ticket they are given now: a conditional UPDATE (active,
    under max_concurrent), so two writers can never overfill them; `also` are further changes to the
    agent's row made in the same statement. False when there is no room."""
    return bool(
        Agent.objects.filter(pk=agent_id, status=Agent.Status.ACTIVE, active_tickets__lt=F("max_concurrent")).update(
            active_tickets=F("active_tickets") + 1, **also
        )
    )


def agents_offer_slot_claim(*, agent_ids, now) -> set:
    """Give each of `agent_ids` still free for an offer (active, none pending) their one offer slot, in
    one statement: rows locked in pk order, those another transaction holds at this moment skipped
    (theirs), `last_offer_at` and `offers_received` moved with the claim. Returns the ids claimed."""
    if not agent_ids:
        return set()
    quote = connection.ops.quote_name
    table = quote(Agent._meta.db_table)
    ids = [Agent._meta.pk.get_db_prep_value(pk, connection) for pk in sorted(agent_ids, key=str)]
    marks = ", ".join(["%s"] * len(ids))
    changes = "has_pending_offer = %s, last_offer_at = %s, offers_received = offers_received + 1"
    free = f"id IN ({marks}) AND has_pending_offer = %s AND status = %s"
    if connection.vendor == "postgresql":
        sql = (
            f"UPDATE {table} SET {changes} WHERE id IN "
            f"(SELECT id FROM {table} WHERE {free} ORDER BY id FOR UPDATE SKIP LOCKED) RETURNING id"
        )
    else:  # SQLite: one writer at a time, nothing to skip
        sql = f"UPDATE {table} SET {changes} WHERE {free} RETURNING id"
    with connection.cursor() as cursor:
        cursor.execute(sql, [True, now, *ids, False, Agent.Status.ACTIVE])
        claimed = [row[0] for row in cursor.fetchall()]
    return {Agent._meta.pk.to_python(pk) for pk in claimed}


def agent_capacity_release(*, agent_id) -> None:
    """One of the agent's slots is free again (the ticket closed, went back to the queue or moved on).
    Whoever frees it also tells dispatch the agent has room (dispatch.services.agent_dispatch_on_commit)."""
    Agent.objects.filter(pk=agent_id, active_tickets__gt=0).update(active_tickets=F("active_tickets") - 1)


# ---------------------------------------------------------------- preferences


@transaction.atomic
def agent_notification_preferences_set(*, agent: Agent, sound: bool, browser_notification: bool, vibrate: bool):
    """Store how the agent wants to be alerted to an offer. Keys this form does not know are kept."""
    current = agent_lock(agent_id=agent.pk)
    preferences = {
        **(current.notification_preferences or {}),
        "sound": sound,
        "browser_notification": browser_notification,
        "vibrate": vibrate,
    }
    Agent.objects.filter(pk=agent.pk).update(notification_preferences=preferences)
    agent.notification_preferences = preferences
    return agent


# The languages the console is written in ("" = follow the browser).
UI_LANGUAGES = ("en", "de", "sv")
TIME_ZONE_MAX_LENGTH = 64


def time_zone_is_known(name: str) -> bool:
    """A zone the IANA database names (zoneinfo), e.g. "Europe/Stockholm"."""
    return len(name) <= TIME_ZONE_MAX_LENGTH and name in known_time_zones()


@functools.cache
def known_time_zones() -> frozenset[str]:
    # Read from the zone files once per process: available_timezones() walks the whole tree.
    return frozenset(available_timezones())


@transaction.atomic
def agent_display_preferences_set(*, agent: Agent, ui_language: str | None = None, time_zone: str | None = None):
    """The language the agent reads the console and the server's texts in, and the time zone times are
    shown in; "" follows the browser, None leaves the setting as it is. Both checked before either is
    stored, so a refusal changes nothing."""
    errors: dict[str, list[str]] = {}
    if ui_language is not None and ui_language not in ("", *UI_LANGUAGES):
        errors["ui_language"] = [f"Unknown language {ui_language!r}: one of {', '.join(UI_LANGUAGES)}, or empty."]
    if time_zone is not None and time_zone and not time_zone_is_known(time_zone):
        errors["time_zone"] = [f"Unknown time zone {time_zone!r}: an IANA name such as Europe/Berlin, or empty."]
    if errors:
        raise InvalidInput(errors)
    changes = {}
    if ui_language is not None:
        changes["ui_language"] = ui_language
    if time_zone is not None:
        changes["time_zone"] = time_zone
    if changes:
        Agent.objects.filter(pk=agent.pk).update(**changes)
        for name, value in changes.items():
            setattr(agent, name, value)
    return agent
