"""The pay task run twice, by two threads at once, and by the real worker: one set of lines."""

import threading

import pytest
from django.db import connection

from payouts.models import PayLine, TicketPay
from payouts.services import ticket_pay_compute
from tests.payouts.factories import RateCardFactory, accepted_offer, finished_ticket


def _paid_ticket_fixture():
    RateCardFactory()
    ticket = finished_ticket(minutes=7.5, csat_score=5)
    accepted_offer(ticket=ticket, surge="1.3", estimate="4.00")
    return ticket


@pytest.mark.django_db(transaction=True)
def test_two_threads_at_once_write_one_set_of_lines():
    ticket = _paid_ticket_fixture()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(ticket_pay_compute(ticket_id=ticket.pk))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sum(result is not None for result in results) == 1
    assert TicketPay.objects.count() == 1
    kinds = sorted(PayLine.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert kinds == ["base", "quality_bonus", "surge", "time"]


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_running_the_task_twice_at_once_writes_one_set_of_lines(live_stack):
    from payouts.tasks import ticket_pay_task

    ticket = _paid_ticket_fixture()
    # Results are not stored by default; here the test waits for both runs.
    first = ticket_pay_task.apply_async(args=[str(ticket.pk)], ignore_result=False)
    second = ticket_pay_task.apply_async(args=[str(ticket.pk)], ignore_result=False)
    outcomes = [first.get(timeout=60), second.get(timeout=60)]

    assert sorted(outcomes, key=str) == ["5.53", None]
    assert TicketPay.objects.count() == 1
    assert PayLine.objects.filter(ticket=ticket).count() == 4
    # The late-CSAT path through the worker adds nothing more: the bonus is already there.
    from payouts.tasks import ticket_quality_bonus_task

    assert ticket_quality_bonus_task.apply_async(args=[str(ticket.pk)], ignore_result=False).get(timeout=60) is None
    assert PayLine.objects.filter(ticket=ticket).count() == 4
