"""Celery entry points for dispatch: ids in, one service call, retry only on named transient errors."""

from celery import shared_task
from django.db import OperationalError

from agents.presence import presence_sweep
from dispatch import services
from dispatch.policy import policy_current

TRANSIENT = (OperationalError,)  # deadlock detected, serialization failure, lost connection


@shared_task(autoretry_for=TRANSIENT, retry_backoff=1, retry_backoff_max=10, max_retries=5)
def dispatch_ticket_task(ticket_id: str) -> int:
    return len(services.ticket_dispatch(ticket_id=ticket_id))


@shared_task(autoretry_for=TRANSIENT, retry_backoff=1, retry_backoff_max=10, max_retries=5)
def dispatch_for_agent_task(agent_id: str) -> int:
    return services.dispatch_for_agent(agent_id=agent_id)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=1, retry_backoff_max=10, max_retries=5)
def offer_expire_task(offer_id: str) -> bool:
    return services.offer_expire(offer_id=offer_id)


@shared_task(autoretry_for=TRANSIENT, max_retries=2, expires=10)
def dispatch_sweep_task() -> dict:
    from django.core.cache import cache

    # One sweep at a time; beat fires every 2 s and a slow sweep must not pile up behind itself.
    if not cache.add("dispatch:sweep-lock", "1", timeout=30):
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
