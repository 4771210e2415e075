"""Celery entry points for dispatch: ids in, one service call, retry only on named transient errors."""

from celery import shared_task
from django.db import OperationalError

from agents.presence import presence_sweep
from dispatch import services
from dispatch.policy import policy_current

TRANSIENT = (OperationalError,)  # deadlock detected, serialization failure, lost connection


@shared_task(autoretry_for=TRANSIENT, retry_backoff=1, retry_backoff_max=10, max_retries=5)
def dispatch_ticket_task(ticket_id: str) -> int:
    """Offer one ticket now (an engine pass over it): for an operator or a test; the platform itself
    wakes the dispatcher process instead."""
    return len(services.ticket_dispatch(ticket_id=ticket_id))


@shared_task(autoretry_for=TRANSIENT, retry_backoff=1, retry_backoff_max=10, max_retries=5)
def offers_expire_task(offer_ids: list[str]) -> int:
    """The offers of one engine pass, when their time is up (one task per pass, not per offer). Those
    answered meanwhile are left alone; safe to run twice."""
    return sum(services.offer_expire(offer_id=offer_id) for offer_id in offer_ids)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=1, retry_backoff_max=10, max_retries=5)
def offer_expire_task(offer_id: str) -> bool:
    """One offer's expiry (tasks queued before the engine expired offers per pass still find this)."""
    return services.offer_expire(offer_id=offer_id)


@shared_task(autoretry_for=TRANSIENT, max_retries=2, expires=10)
def dispatch_sweep_task() -> dict:
    from django.core.cache import cache

    # One sweep at a time; beat fires every 2 s and a slow sweep must not pile up behind itself.
    # The lock outlives a sweep (well under a second) but not by much: a worker killed mid-sweep holds it
    # until it expires, and the sweep is the safety net that must come back soon after.
    if not cache.add("dispatch:sweep-lock", "1", timeout=8):
        return {"skipped": "another sweep is running"}
    try:
        return services.dispatch_sweep()
    finally:
        cache.delete("dispatch:sweep-lock")


@shared_task(autoretry_for=TRANSIENT, max_retries=2, expires=10)
def presence_sweep_task() -> dict:

    policy = policy_current()
    return {
        "went_offline": presence_sweep(grace_seconds=policy.presence_grace_seconds),
        "requeued": services.tickets_requeue_for_absent_agents(policy=policy),
    }
