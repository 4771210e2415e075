"""Thin Celery wrappers: ids in, one service call. Every service here is safe to run twice."""

from celery import shared_task

from payouts import guarantees, services


@shared_task(name="payouts.tasks.ticket_pay_task")
def ticket_pay_task(ticket_id: str) -> str | None:
    pay = services.ticket_pay_compute(ticket_id=ticket_id)
    return str(pay.final_amount) if pay is not None else None


@shared_task(name="payouts.tasks.ticket_pay_flush_task")
def ticket_pay_flush_task() -> int:
    """Pay every ticket closed since the last flush (one task for many tickets)."""
    return services.ticket_pay_flush()


@shared_task(name="payouts.tasks.ticket_quality_bonus_task")
def ticket_quality_bonus_task(ticket_id: str) -> str | None:
    line = services.ticket_quality_bonus_record(ticket_id=ticket_id)
    return str(line.pk) if line is not None else None


@shared_task(name="payouts.tasks.earnings_floor_close_task")
def earnings_floor_close_task() -> int:
    return services.earnings_floor_close_due()


@shared_task(name="payouts.tasks.ticket_pay_sweep_task")
def ticket_pay_sweep_task() -> int:
    """Repairs a lost pay task (e.g. Redis lost it): pays finished tickets that have no pay yet."""
    return services.ticket_pay_sweep()


@shared_task(name="payouts.tasks.shift_guarantee_close_task")
def shift_guarantee_close_task() -> int:
    """Settles the hourly guarantee of every booking of a shift that has ended (once per booking)."""
    return guarantees.shift_guarantee_close_due()
