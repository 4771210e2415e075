"""The dispatch policy in force. Versions are never edited; a change writes the next version."""

from django.db import IntegrityError, transaction

from dispatch.models import DispatchPolicy


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
