"""The only place the dispatch app takes row locks: evaluated, of the rows themselves."""

from dispatch.models import DispatchPolicy


def policy_latest_lock() -> DispatchPolicy:
    """Lock the latest policy version, so two changes at once write consecutive versions."""
    return DispatchPolicy.objects.select_for_update(of=("self",)).order_by("-version").first()
