"""Celery entry points of the verbs that span apps: ids in, one action, nothing else."""

from celery import shared_task
from django.db import OperationalError

from actions import retention, tickets

TRANSIENT = (OperationalError,)  # deadlock detected, serialization failure, lost connection


@shared_task(name="actions.tasks.assignment_wrap_up_end_task", acks_late=True, ignore_result=True)
def assignment_wrap_up_end_task(assignment_id: str) -> bool:
    """The wrap-up's time is up: free the agent's slot, close and pay the ticket. Safe to run twice."""
    return tickets.assignment_wrap_up_end(assignment_id=assignment_id) is not None


@shared_task(name="actions.tasks.wrap_up_sweep_task", autoretry_for=TRANSIENT, max_retries=2, expires=10)
def wrap_up_sweep_task() -> int:
    """Beat: end the wrap-ups whose timer task was lost or is late."""
    return tickets.wrap_ups_end_due()


@shared_task(name="actions.tasks.retention_enforce_task")
def retention_enforce_task() -> dict:
    """Deletes or anonymises what is past the retention periods the algorithm notice states; a run stops
    after RUN_BUDGET_SECONDS and the next one continues."""
    return retention.retention_enforce(budget_seconds=retention.RUN_BUDGET_SECONDS)
