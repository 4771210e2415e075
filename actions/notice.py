"""The algorithm notice (EU Platform Work Directive, Art. 9): versioned snapshots of the rules in force.

A version snapshots the dispatch policy and the rate cards in force when it starts, with the list of what
changed against the version in force before it. Changing the dispatch policy or writing a rate card
(actions.rules) publishes a version in the same transaction,
starting when the change applies (algorithm_notice_publish_change); supervisors and finance can also
publish one by hand, starting in the future. Agents are recorded as having seen a version when they open the
page (AlgorithmNoticeSeen); their console says when there is one they have not seen.

The version in force at a moment is the highest version started by then. A version published for a moment
before an already published later one is followed by a re-publication at that later moment, so the later
one carries the change too. What is recorded and for how long comes from actions.retention, whose job
enforces the same periods.
"""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from actions.retention import recorded_data_snapshot
from core.errors import InvalidInput
from dispatch.policy import policy_current
from payouts.models import AlgorithmNotice, AlgorithmNoticeSeen, RateCard
from payouts.serializers import rate_card_payload
from payouts.services import DEFAULT_CURRENCY, rate_card_in_force

AUTOMATED_DECISIONS = [
    gettext_noop(
        "Which eligible agent is offered a ticket, ranked by the weights below (language, skills, capacity and being "
        "online decide eligibility)."
    ),
    gettext_noop(
        "When a conversation comes back (the bot escalates it again, e.g. after a hand-back), the agent who last "
        "served it is offered it first if they are online, free and eligible; otherwise the ranking below decides."
    ),
    gettext_noop("Offer expiry and re-offering; the surge multiplier from queue pressure."),
    gettext_noop("Pay per ticket and the weekly earnings floor top-up, computed from the rate card below."),
    gettext_noop("The hourly guarantee of a booked shift and its top-up, settled automatically after the shift ends."),
    gettext_noop("Being set away after repeated missed offers (you can go online again at once)."),
]
# How a booked shift's hourly guarantee is computed (payouts.guarantees), in the words agents read.
SHIFT_GUARANTEE_RULES = [
    gettext_noop(
        "A shift a supervisor publishes can carry an hourly guarantee (an amount per hour in a currency). If you "
        "booked it, it is settled once, about 15 minutes after the shift ends."
    ),
    gettext_noop(
        "Online hours: the time you were online (not away, not offline) between the shift's start and end, to the "
        "hundredth of an hour. A lost connection counts until the moment your last connection closed. If a "
        "supervisor cancels the shift after it started, it ends at the cancellation; a shift cancelled before it "
        "starts guarantees nothing."
    ),
    gettext_noop(
        "Guarantee = online hours x the hourly guarantee. Earnings = your pay for tickets whose work ended in the "
        "shift (base, time, premiums, surge and the top-up to an offered estimate), in the shift's currency; quality "
        "bonuses, adjustments and pay in another currency are not counted."
    ),
    gettext_noop(
        "If earnings are below the guarantee, a 'shift guarantee top-up' line pays the difference and explains the "
        "numbers; otherwise the guarantee is shown as met (GET /api/v1/shift-guarantees/)."
    ),
    gettext_noop(
        "The weekly earnings floor counts a shift top-up as earnings of the week the shift ended in, so the same "
        "shortfall is never topped up twice."
    ),
]
HUMAN_ONLY_DECISIONS = [
    gettext_noop("Suspension and reinstatement (always by a supervisor, with a reason you are told; you can appeal)."),
    gettext_noop("Skill certification levels."),
    gettext_noop(
        "Pay adjustments (by finance, with a reason shown on the line) and payout approval (two finance people)."
    ),
]


# Fields of the dispatch policy a notice snapshots: all of them but the version's own bookkeeping.
POLICY_BOOKKEEPING = {"id", "version", "created_at", "created_by", "change_reason"}


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def _rate_cards_in_force(*, at: dt.datetime) -> dict[str, dict]:

    currencies = sorted(set(RateCard.objects.values_list("currency", flat=True).distinct()) | {DEFAULT_CURRENCY})
    return {currency: rate_card_payload(rate_card_in_force(at=at, currency=currency)) for currency in currencies}


def _snapshot(*, at: dt.datetime) -> dict:

    policy = policy_current()
    cards = _rate_cards_in_force(at=at)
    return {
        "ranking": {
            "policy_version": policy.version,
            "weights": {k: str(v) for k, v in policy.ranking_weights.items()},
            "offer_timeout_seconds": policy.offer_timeout_seconds,
            "offer_fanout": policy.offer_fanout,
            "surge_range": [str(policy.surge_min), str(policy.surge_max)],
            "escalation_steps": policy.escalation_steps,
            "max_missed_offers_in_row": policy.max_missed_offers_in_row,
        },
        "policy": {
            "version": policy.version,
            **{
                field.name: _plain(getattr(policy, field.name))
                for field in policy._meta.concrete_fields
                if field.name not in POLICY_BOOKKEEPING
            },
        },
        "recorded_data": recorded_data_snapshot(),
        "automated_decisions": AUTOMATED_DECISIONS,
        "human_only_decisions": HUMAN_ONLY_DECISIONS,
        "shift_guarantee": SHIFT_GUARANTEE_RULES,
        "rate_card": cards[DEFAULT_CURRENCY],
        "rate_cards": cards,
    }


# ---------------------------------------------------------------- what changed between two versions

# The rate card's fields in the order agents read them; dict-valued ones are compared key by key.
RATE_CARD_CHANGE_FIELDS = (
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
    "effective_to",
)


def _same(before, after) -> bool:
    """Equal, also when one version stored a number as text ("1.0") and the other as a number (1)."""
    if before == after:
        return True
    if isinstance(before, dict | list | bool) or isinstance(after, dict | list | bool):
        return False
    try:
        return Decimal(str(before)) == Decimal(str(after))
    except (InvalidOperation, ValueError):
        return False


def _policy_of(content: dict) -> dict:
    """The policy a version recorded; a version from before full policy snapshots has the ranking only."""
    if "policy" in content:
        return content["policy"]
    ranking = content.get("ranking", {})
    policy = {
        "version": ranking.get("policy_version"),
        "offer_timeout_seconds": ranking.get("offer_timeout_seconds"),
        "offer_fanout": ranking.get("offer_fanout"),
        "ranking_weights": ranking.get("weights"),
    }
    if ranking.get("surge_range"):
        policy["surge_min"], policy["surge_max"] = ranking["surge_range"]
    return {name: value for name, value in policy.items() if value is not None}


def _cards_of(content: dict) -> dict[str, dict]:
    if "rate_cards" in content:
        return content["rate_cards"]
    card = content.get("rate_card")
    return {card["currency"]: card} if card else {}


def _compare(changes: list, *, what: str, before, after, currency=None) -> None:
    """Append the change(s) from `before` to `after` of one field; a dict is compared key by key."""
    if isinstance(before, dict) or isinstance(after, dict):
        before, after = before or {}, after or {}
        for key in sorted(set(before) | set(after), key=str):
            if not _same(before.get(key), after.get(key)):
                changes.append(
                    {
                        "what": what,
                        "item": key,
                        "before": before.get(key),
                        "after": after.get(key),
                        "currency": currency,
                    }
                )
    elif not _same(before, after):
        changes.append({"what": what, "item": None, "before": before, "after": after, "currency": currency})


def notice_changes(before: dict | None, after: dict) -> list[dict]:
    """What differs between two versions' contents, as data (shown in the reader's language by
    change_lines): one entry per field, dict fields per key, in the order agents read the notice."""
    if not before:
        return []
    changes: list[dict] = []
    old_policy, new_policy = _policy_of(before), _policy_of(after)
    for name, value in new_policy.items():
        # A field an older version did not record is not a change.
        if name in old_policy:
            _compare(changes, what=f"policy.{name}", before=old_policy[name], after=value)
    old_cards, new_cards = _cards_of(before), _cards_of(after)
    for currency in sorted(set(old_cards) | set(new_cards)):
        old, new = old_cards.get(currency), new_cards.get(currency)
        if old is None or new is None:
            changes.append(
                {
                    "what": "rate_card.version",
                    "item": None,
                    "before": old and old.get("version"),
                    "after": new and new.get("version"),
                    "currency": currency,
                }
            )
            continue
        _compare(
            changes, what="rate_card.version", before=old.get("version"), after=new.get("version"), currency=currency
        )
        for name in RATE_CARD_CHANGE_FIELDS:
            _compare(changes, what=f"rate_card.{name}", before=old.get(name), after=new.get(name), currency=currency)
    return changes


# How each change reads: (label, how its values read). Labels with %(item)s name the key of a dict field.
CHANGE_LABELS = {
    "policy.version": (gettext_noop("Dispatch policy"), "version"),
    "policy.offer_timeout_seconds": (gettext_noop("Offer timeout"), "seconds"),
    "policy.offer_fanout": (gettext_noop("Agents offered a ticket at once"), "plain"),
    "policy.escalation_steps": (gettext_noop("Escalation steps:"), "steps"),
    "policy.ranking_weights": (gettext_noop("Ranking weight of %(item)s"), "plain"),
    "policy.surge_min": (gettext_noop("Lowest surge multiplier"), "plain"),
    "policy.surge_max": (gettext_noop("Highest surge multiplier"), "plain"),
    "policy.sla_target_seconds": (gettext_noop("Service level target: answered within"), "seconds"),
    "policy.sla_target_ratio": (gettext_noop("Service level target: share of tickets"), "plain"),
    "policy.presence_grace_seconds": (gettext_noop("A lost connection counts as offline after"), "seconds"),
    "policy.requeue_after_seconds": (
        gettext_noop("A disconnected agent's tickets go back to the queue after"),
        "seconds",
    ),
    "policy.max_missed_offers_in_row": (gettext_noop("Missed offers in a row before you are set away"), "plain"),
    "policy.default_skill_level": (gettext_noop("Skill level a ticket asks for by default"), "plain"),
    "policy.wrap_up_seconds": (gettext_noop("Wrap-up time after a ticket"), "seconds"),
    "rate_card.version": (gettext_noop("Rate card (%(currency)s)"), "version"),
    "rate_card.base_amount": (gettext_noop("Base amount"), "money"),
    "rate_card.base_by_reason": (gettext_noop("Base amount for escalation reason %(item)s"), "money"),
    "rate_card.priority_premium": (gettext_noop("Premium for priority %(item)s"), "money"),
    "rate_card.rate_per_minute": (gettext_noop("Pay per minute"), "money"),
    "rate_card.skill_level_premium": (gettext_noop("Premium per required skill level"), "money"),
    "rate_card.vip_premium": (gettext_noop("VIP customer premium"), "money"),
    "rate_card.vulnerable_premium": (gettext_noop("Vulnerable customer premium"), "money"),
    "rate_card.quality_bonus": (gettext_noop("Quality bonus"), "money"),
    "rate_card.quality_bonus_min_csat": (gettext_noop("Customer rating that earns the quality bonus"), "plain"),
    "rate_card.after_contact_allowance_minutes": (gettext_noop("After-contact time allowed at least"), "minutes"),
    "rate_card.after_contact_cap_minutes": (gettext_noop("After-contact time paid at most"), "minutes"),
    "rate_card.expected_handle_minutes": (gettext_noop("Handle time an offer's estimate assumes"), "minutes"),
    "rate_card.hourly_reference": (gettext_noop("Hourly reference of the earnings floor"), "money"),
    "rate_card.hourly_reference_by_country": (gettext_noop("Hourly reference in %(item)s"), "money"),
    "rate_card.floor_k": (gettext_noop("Earnings floor factor per engaged hour"), "plain"),
    "rate_card.floor_a": (gettext_noop("Earnings floor factor per available hour"), "plain"),
    "rate_card.effective_to": (gettext_noop("Rate card ends"), "moment"),
}


def _step_text(step: dict) -> str:
    seconds, value = step.get("after_seconds"), step.get("value")
    action = step.get("action")
    if action == "relax_skill_level":
        text = gettext("after %(seconds)s s the skill level asked is lowered by %(value)s")
    elif action == "widen_fanout":
        text = gettext("after %(seconds)s s the ticket is offered to %(value)s agents at once")
    elif action == "alert_supervisors":
        text = gettext("after %(seconds)s s supervisors are alerted")
    else:
        text = gettext("after %(seconds)s s: %(action)s %(value)s")
    return text % {"seconds": seconds, "value": value, "action": action}


def _value_text(value, kind: str, currency) -> str:
    if value is None or value == "" or value == []:
        return gettext("none")
    if kind == "seconds":
        return gettext("%(value)s s") % {"value": value}
    if kind == "minutes":
        return gettext("%(value)s min") % {"value": value}
    if kind == "money" and currency:
        return f"{value} {currency}"
    if kind == "version":
        return f"v{value}"
    if kind == "moment":
        return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
    if kind == "steps":
        return "; ".join(_step_text(step) for step in sorted(value, key=lambda s: s.get("after_seconds", 0)))
    return str(value)


def change_lines(change_list) -> list[str]:
    """A version's changes in the reader's language, e.g. "Offer timeout 20 s → 30 s"."""
    lines = []
    for change in change_list or []:
        label, kind = CHANGE_LABELS.get(change["what"], (change["what"].split(".", 1)[-1], "plain"))
        what = gettext(label) % {"item": change.get("item"), "currency": change.get("currency")}
        before = _value_text(change.get("before"), kind, change.get("currency"))
        after = _value_text(change.get("after"), kind, change.get("currency"))
        lines.append(f"{what} {before} → {after}")
    return lines


def notice_text(text: str) -> str:
    """A text stored in a version, in the reader's language (stored as its English source)."""
    return gettext(text) if text else text


# ---------------------------------------------------------------- publishing


def _in_force_at(moment: dt.datetime) -> AlgorithmNotice | None:
    return AlgorithmNotice.objects.filter(effective_from__lte=moment).order_by("-version").first()


def _create_version(**fields) -> AlgorithmNotice:
    """The next version number; a publisher that took it at the same moment makes us take the next."""
    for attempt in range(5):
        version = (AlgorithmNotice.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        try:
            with transaction.atomic():
                return AlgorithmNotice.objects.create(version=version, **fields)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _publish_at(moments, *, actor, changes: str) -> list[AlgorithmNotice]:
    """A version at each of `moments`, and a re-publication at every later moment an existing version
    starts at (which would otherwise miss this change); each lists what changed against the version in
    force just before it."""
    first = min(moments)
    later = set(AlgorithmNotice.objects.filter(effective_from__gt=first).values_list("effective_from", flat=True))
    published = []
    for moment in sorted(set(moments) | later):
        previous = _in_force_at(moment)
        content = _snapshot(at=moment)
        published.append(
            _create_version(
                published_by=actor,
                effective_from=moment,
                changes=changes,
                change_list=notice_changes(previous.content if previous else None, content),
                content=content,
            )
        )
    return published


def algorithm_notice_publish(*, actor, effective_from: dt.datetime, changes: str) -> AlgorithmNotice:
    """A new version from the policy and rate card in force at `effective_from`; it must start in the
    future (agents see it before it applies), except the very first one."""
    first = not AlgorithmNotice.objects.exists()
    if not first and effective_from <= timezone.now():
        raise InvalidInput({"effective_from": ["A new version must start in the future."]})
    if not first and not (changes or "").strip():
        raise InvalidInput({"changes": ["Say what changed since the last version."]})
    with transaction.atomic():
        return _publish_at([effective_from], actor=actor, changes=changes)[0]


def algorithm_notice_baseline() -> None:
    """Before a change of the rules: make sure a version of the rules as they are exists, so the version
    the change publishes has something to say what changed against."""
    if not AlgorithmNotice.objects.exists():
        algorithm_notice_current()


def algorithm_notice_publish_change(
    *, actor, changes: str = "", effective_from: dt.datetime | None = None, effective_to: dt.datetime | None = None
) -> list[AlgorithmNotice]:
    """The version(s) a change of the dispatch policy or a rate card makes: one from when it applies (now,
    or a rate card's later start) and, for a rate card that ends, one from its end. Call inside the
    transaction of the change, after writing it (and algorithm_notice_baseline before writing it)."""
    now = timezone.now()
    start = max(effective_from or now, now)
    moments = [start] + ([effective_to] if effective_to is not None and effective_to > start else [])
    return _publish_at(moments, actor=actor, changes=changes)


def _current_and_upcoming(now: dt.datetime) -> tuple[AlgorithmNotice | None, AlgorithmNotice | None]:
    current = _in_force_at(now)
    upcoming = AlgorithmNotice.objects.filter(effective_from__gt=now).order_by("effective_from", "-version").first()
    return current, upcoming


def algorithm_notice_current() -> tuple[AlgorithmNotice, AlgorithmNotice | None]:
    """(the version in force, the next one already published or None). Creates v1 if there is none."""
    now = timezone.now()
    current, upcoming = _current_and_upcoming(now)
    if current is None:
        try:
            current = algorithm_notice_publish(actor=None, effective_from=now, changes="First version.")
        except IntegrityError:
            current = _in_force_at(now)
    return current, upcoming


def algorithm_notice_unseen(*, agent) -> AlgorithmNotice | None:
    """The newest version (the upcoming one, else the one in force) `agent` has not been shown yet."""
    shown = [notice for notice in _current_and_upcoming(timezone.now())[::-1] if notice is not None]
    seen = set(AlgorithmNoticeSeen.objects.filter(agent=agent, notice__in=shown).values_list("notice_id", flat=True))
    return next((notice for notice in shown if notice.pk not in seen), None)


def algorithm_notice_seen(*, agent, notices) -> None:
    for notice in notices:
        AlgorithmNoticeSeen.objects.get_or_create(notice=notice, agent=agent)
