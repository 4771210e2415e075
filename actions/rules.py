"""Changes to the rules agents work under, the dispatch policy and the rate cards: each one is recorded
in its own app and published to agents in the same transaction, as a new version of the algorithm notice
that lists what changed (actions.notice)."""

import datetime as dt

from django.db import transaction

from actions.notice import algorithm_notice_baseline, algorithm_notice_publish_change
from dispatch.models import DispatchPolicy
from dispatch.policy import policy_update
from payouts.models import RateCard
from payouts.services import rate_card_create


@transaction.atomic(durable=True)
def policy_change(*, actor, changes: dict, change_reason: str = "") -> DispatchPolicy:
    """The next dispatch policy version (dispatch.policy.policy_update), in force at once, and the notice
    version that tells agents what changed."""
    algorithm_notice_baseline()
    policy = policy_update(actor=actor, changes=changes, change_reason=change_reason)
    algorithm_notice_publish_change(actor=actor, changes=change_reason)
    return policy


@transaction.atomic(durable=True)
def rate_card_change(
    *, actor, currency: str, effective_from: dt.datetime, effective_to: dt.datetime | None = None, **card
) -> RateCard:
    """A new rate card version (payouts.services.rate_card_create), and the notice version from when it
    applies (and another at its end, if it has one)."""
    algorithm_notice_baseline()
    created = rate_card_create(
        actor=actor, currency=currency, effective_from=effective_from, effective_to=effective_to, **card
    )
    algorithm_notice_publish_change(
        actor=actor, changes=card.get("change_note", ""), effective_from=effective_from, effective_to=effective_to
    )
    return created
