"""Celery entry points of the tickets app: ids in, a service call, nothing else."""

from celery import shared_task

from tickets import webhooks


@shared_task(name="tickets.tasks.webhook_deliver_task", acks_late=True, ignore_result=True)
def webhook_deliver_task(ticket_id: str) -> int:
    """Deliver the ticket's due webhooks in order. Idempotent: rows are claimed before they are sent."""
    return webhooks.webhook_deliver_for_ticket(ticket_id=ticket_id)


@shared_task(name="tickets.tasks.webhook_flush_task", acks_late=True, ignore_result=True)
def webhook_flush_task() -> int:
    """Deliver every due webhook, tickets in parallel, each ticket in order (one task for many events)."""
    return webhooks.webhook_flush()


@shared_task(name="tickets.tasks.webhook_sweep_task", acks_late=True, ignore_result=True)
def webhook_sweep_task() -> int:
    """Beat: pick up deliveries whose retry time has come (or whose worker died mid-send)."""
    return webhooks.webhook_sweep()
