import pytest

from dispatch.models import DispatchPolicy
from dispatch.policy import policy_current


@pytest.fixture
def policy(db):
    return policy_current()


def set_policy(**changes) -> DispatchPolicy:
    """Write a new policy version with `changes` (tests use short timeouts and simple steps)."""
    current = policy_current()
    fields = {
        f.name: getattr(current, f.name)
        for f in DispatchPolicy._meta.fields
        if f.name not in ("id", "version", "created_at", "created_by")
    }
    fields.update(changes)
    return DispatchPolicy.objects.create(version=current.version + 1, **fields)
