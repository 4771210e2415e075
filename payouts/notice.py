"""The algorithm notice (EU Platform Work Directive, Art. 9): versioned snapshots of the rules in force."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from config.errors import InvalidInput
from payouts.models import AlgorithmNotice, AlgorithmNoticeSeen

RECORDED_DATA = [
    {"what": "Presence (online, away, offline) and open connections", "kept": "90 days"},
    {
        "what": "When you went online and when you left (online intervals), for shift guarantees; the stretches "
        "inside a booked shift are also kept with its settlement",
        "kept": "90 days; with the settlement as pay records",
    },
    {"what": "Offers made to you, your answers and response times", "kept": "12 months"},
    {"what": "Tickets you handled, messages, resolution notes, customer ratings (CSAT)", "kept": "24 months"},
    {"what": "Pay lines, payout batches and payout details", "kept": "10 years (accounting and tax law)"},
    {
        "what": "Decisions about you (suspension, reinstatement, skill certification), with who decided",
        "kept": "5 years",
    },
]
AUTOMATED_DECISIONS = [
    "Which eligible agent is offered a ticket, ranked by the weights below (language, skills, capacity and being "
    "online decide eligibility).",
    "Offer expiry and re-offering; the surge multiplier from queue pressure.",
    "Pay per ticket and the weekly earnings floor top-up, computed from the rate card below.",
    "The hourly guarantee of a booked shift and its top-up, settled automatically after the shift ends.",
    "Being set away after repeated missed offers (you can go online again at once).",
]
# How a booked shift's hourly guarantee is computed (payouts.guarantees), in the words agents read.
SHIFT_GUARANTEE_RULES = [
    "A shift a supervisor publishes can carry an hourly guarantee (an amount per hour in a currency). If you "
    "booked it, it is settled once, about 15 minutes after the shift ends.",
    "Online hours: the time you were online (not away, not offline) between the shift's start and end, to the "
    "hundredth of an hour. A lost connection counts until the moment your last connection closed. If a "
    "supervisor cancels the shift after it started, it ends at the cancellation; a shift cancelled before it "
    "starts guarantees nothing.",
    "Guarantee = online hours x the hourly guarantee. Earnings = your pay for tickets whose work ended in the "
    "shift (base, time, premiums, surge and the top-up to an offered estimate), in the shift's currency; quality "
    "bonuses, adjustments and pay in another currency are not counted.",
    "If earnings are below the guarantee, a 'shift guarantee top-up' line pays the difference and explains the "
    "numbers; otherwise the guarantee is shown as met (GET /api/v1/shift-guarantees/).",
    "The weekly earnings floor counts a shift top-up as earnings of the week the shift ended in, so the same "
    "shortfall is never topped up twice.",
]
HUMAN_ONLY_DECISIONS = [
    "Suspension and reinstatement (always by a supervisor, with a reason you are told; you can appeal).",
    "Skill certification levels.",
    "Pay adjustments (by finance, with a reason shown on the line) and payout approval (two finance people).",
]


def _snapshot(*, at: dt.datetime) -> dict:
    from dispatch.policy import policy_current
    from payouts.serializers import rate_card_payload
    from payouts.services import rate_card_in_force

    policy = policy_current()
    return {
        "ranking": {
            "policy_version": policy.version,
            "weights": {k: str(v) for k, v in policy.ranking_weights.items()},
            "offer_timeout_seconds": policy.offer_timeout_seconds,
            "offer_fanout": policy.offer_fanout,
            "surge_range": [str(policy.surge_min), str(policy.surge_max)],
        },
        "recorded_data": RECORDED_DATA,
        "automated_decisions": AUTOMATED_DECISIONS,
        "human_only_decisions": HUMAN_ONLY_DECISIONS,
        "shift_guarantee": SHIFT_GUARANTEE_RULES,
        "rate_card": rate_card_payload(rate_card_in_force(at=at)),
    }


def algorithm_notice_publish(*, actor, effective_from: dt.datetime, changes: str) -> AlgorithmNotice:
    """A new version from the policy and rate card in force at `effective_from`; it must start in the
    future (agents see it before it applies), except the very first one."""
    first = not AlgorithmNotice.objects.exists()
    if not first and effective_from <= timezone.now():
        raise InvalidInput({"effective_from": ["A new version must start in the future."]})
    if not first and not (changes or "").strip():
        raise InvalidInput({"changes": ["Say what changed since the last version."]})
    with transaction.atomic():
        version = (AlgorithmNotice.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        return AlgorithmNotice.objects.create(
            version=version,
            published_by=actor,
            effective_from=effective_from,
            changes=changes,
            content=_snapshot(at=effective_from),
        )


def algorithm_notice_current() -> tuple[AlgorithmNotice, AlgorithmNotice | None]:
    """(the version in force, the next one already published or None). Creates v1 if there is none."""
    now = timezone.now()
    current = AlgorithmNotice.objects.filter(effective_from__lte=now).order_by("-version").first()
    if current is None:
        try:
            current = algorithm_notice_publish(actor=None, effective_from=now, changes="First version.")
        except IntegrityError:
            current = AlgorithmNotice.objects.filter(effective_from__lte=now).order_by("-version").first()
    upcoming = AlgorithmNotice.objects.filter(effective_from__gt=now).order_by("version").first()
    return current, upcoming


def algorithm_notice_seen(*, agent, notices) -> None:
    for notice in notices:
        AlgorithmNoticeSeen.objects.get_or_create(notice=notice, agent=agent)
