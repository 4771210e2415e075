"""The dispatch policy in force. Versions are never edited; a change writes the next version."""

from django.db import IntegrityError, transaction

from core.audit import audit_record
from core.errors import InvalidInput
from dispatch.locks import policy_latest_lock
from dispatch.models import DispatchPolicy
from dispatch.serializers import POLICY_FIELDS


def policy_current() -> DispatchPolicy:
    policy = DispatchPolicy.objects.order_by("-version").first()
    if policy is not None:
        return policy
    try:
        with transaction.atomic():
            return DispatchPolicy.objects.create(version=1, change_reason="Initial defaults")
    except IntegrityError:
        # Another process created version 1 at the same moment.
        return DispatchPolicy.objects.order_by("-version").first()


@transaction.atomic
def policy_update(*, actor, changes: dict, change_reason: str = "") -> DispatchPolicy:
    """Write the next policy version with `changes` applied; recorded with who, when, before and after.
    (Agents are told through the algorithm notice: actions.rules.policy_change.)"""

    current = policy_current()
    values = {name: getattr(current, name) for name in POLICY_FIELDS}
    values.update(changes)
    if values["surge_min"] > values["surge_max"]:
        raise InvalidInput({"surge_min": ["surge_min must not be above surge_max."]})
    latest = policy_latest_lock()
    policy = DispatchPolicy.objects.create(
        version=latest.version + 1, created_by=actor, change_reason=change_reason, **values
    )
    before = {name: _jsonable(getattr(current, name)) for name in changes}
    after = {name: _jsonable(getattr(policy, name)) for name in changes}
    audit_record(
        actor=actor,
        action="dispatch_policy.changed",
        subject=policy,
        reason=change_reason,
        data={"from_version": current.version, "to_version": policy.version, "before": before, "after": after},
    )
    return policy


def _jsonable(value):
    from decimal import Decimal

    return str(value) if isinstance(value, Decimal) else value
