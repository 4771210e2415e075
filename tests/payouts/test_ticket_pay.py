"""Worked examples of the pay formula, run through the service the Celery task calls.

Rate card of the examples (tests/payouts/factories.py): base 2.00 EUR, 0.30 per minute, skill premium
0.10 per required level, VIP 0.50, vulnerable 0.75, quality bonus 0.50 at CSAT 5, no after-contact
allowance unless stated.
"""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from payouts.models import PayLine, TicketPay
from payouts.services import ticket_pay_compute, ticket_quality_bonus_record
from tests.payouts.factories import RateCardFactory, accepted_offer, finished_ticket

pytestmark = pytest.mark.django_db

D = Decimal

WORKED_EXAMPLES = [
    # id, ticket minutes, surge, offered estimate, ticket kwargs, card kwargs, expected lines, final
    (
        "issue example: surge on labour is its own line",
        7.5, "1.3", "4.00", {}, {},
        {"base": "2.00", "time": "2.25", "surge": "1.28"}, "5.53",
    ),
    (
        "estimate is a floor: short ticket is topped up to the promise",
        3, "1.00", "6.00", {}, {},
        {"base": "2.00", "time": "0.90", "floor_topup": "3.10"}, "6.00",
    ),
    (
        "actual time above the estimate pays the actual time",
        20, "1.00", "4.40", {}, {},
        {"base": "2.00", "time": "6.00"}, "8.00",
    ),
    (
        "premiums are not surged",
        10, "2.00", "0.00",
        {"customer_tier": "vip", "customer_vulnerable": True, "skills": {"payments": 3}}, {},
        {"base": "2.00", "time": "3.00", "premium": "1.55", "surge": "5.00"}, "11.55",
    ),
    (
        "after-contact allowance, capped",
        5, "1.00", "0.00", {}, {"after_contact_allowance_minutes": D("1.00")},
        {"base": "2.00", "time": "1.80"}, "3.80",
    ),
    (
        "base by escalation reason plus priority premium",
        10, "1.00", "0.00", {"reason": "sensitive", "priority": 3},
        {"base_by_reason": {"sensitive": "3.00"}, "priority_premium": {"3": "0.50"}},
        {"base": "3.50", "time": "3.00"}, "6.50",
    ),
    (
        "surge and floor together: the top-up covers what surge did not",
        2, "1.50", "7.00", {}, {},
        {"base": "2.00", "time": "0.60", "surge": "1.30", "floor_topup": "3.10"}, "7.00",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "minutes, surge, estimate, ticket_kwargs, card_kwargs, expected, final",
    [example[1:] for example in WORKED_EXAMPLES],
    ids=[example[0] for example in WORKED_EXAMPLES],
)
def test_worked_examples(minutes, surge, estimate, ticket_kwargs, card_kwargs, expected, final):
    card = RateCardFactory(**card_kwargs)
    ticket = finished_ticket(minutes=minutes, **ticket_kwargs)
    accepted_offer(ticket=ticket, surge=surge, estimate=estimate)

    pay = ticket_pay_compute(ticket_id=ticket.pk)

    lines = {line.kind: line.amount for line in PayLine.objects.filter(ticket=ticket)}
    assert lines == {kind: D(amount) for kind, amount in expected.items()}
    assert pay.final_amount == D(final) == sum(lines.values())
    for line in PayLine.objects.filter(ticket=ticket):
        assert line.rate_card_id == card.pk
        assert line.inputs["rate_card_version"] == card.version
        assert line.explanation
        assert line.agent_id == ticket.assigned_agent_id


def test_explanation_in_plain_words():
    RateCardFactory()
    ticket = finished_ticket(minutes=7.5)
    accepted_offer(ticket=ticket, surge="1.3", estimate="4.00")
    ticket_pay_compute(ticket_id=ticket.pk)
    base = PayLine.objects.get(ticket=ticket, kind="base")
    assert "Base 2.00 EUR + 7.5 min at 0.30 = 2.25 EUR; surge x1.3 adds 1.28 EUR" in base.explanation
    surge = PayLine.objects.get(ticket=ticket, kind="surge")
    assert surge.explanation == "Surge x1.3 on labour 4.25 EUR (base + time) adds 1.28 EUR."


def test_the_time_line_adds_up_as_written_for_an_odd_duration():
    RateCardFactory()
    ticket = finished_ticket(minutes=62 / 60)  # 62 seconds
    ticket_pay_compute(ticket_id=ticket.pk)
    time_line = PayLine.objects.get(ticket=ticket, kind="time")
    assert time_line.explanation.startswith("1.03 min at 0.30 = 0.31 EUR")
    assert time_line.amount == D("0.31")


def test_handed_back_ticket_is_paid_without_an_offer():
    RateCardFactory()
    ticket = finished_ticket(minutes=4, status="handed_back")
    pay = ticket_pay_compute(ticket_id=ticket.pk)
    assert pay.final_amount == D("3.20")
    assert pay.surge == D("1.00")


def test_open_ticket_is_not_paid():
    RateCardFactory()
    ticket = finished_ticket(minutes=4, status="assigned")
    assert ticket_pay_compute(ticket_id=ticket.pk) is None
    assert not PayLine.objects.exists()


def test_running_twice_writes_one_set_of_lines():
    RateCardFactory()
    ticket = finished_ticket(minutes=7.5)
    accepted_offer(ticket=ticket, surge="1.3", estimate="4.00")
    assert ticket_pay_compute(ticket_id=ticket.pk) is not None
    assert ticket_pay_compute(ticket_id=ticket.pk) is None
    assert PayLine.objects.filter(ticket=ticket).count() == 3
    assert TicketPay.objects.count() == 1


def test_csat_five_at_pay_time_adds_the_bonus():
    RateCardFactory()
    ticket = finished_ticket(minutes=5, csat_score=5)
    ticket_pay_compute(ticket_id=ticket.pk)
    assert PayLine.objects.get(ticket=ticket, kind="quality_bonus").amount == D("0.50")


def test_late_csat_adds_the_bonus_once():
    RateCardFactory()
    ticket = finished_ticket(minutes=5)
    ticket_pay_compute(ticket_id=ticket.pk)
    assert not PayLine.objects.filter(kind="quality_bonus").exists()

    type(ticket).objects.filter(pk=ticket.pk).update(csat_score=5)
    bonus = ticket_quality_bonus_record(ticket_id=ticket.pk)
    assert bonus.amount == D("0.50")
    assert "rated 5 of 5" in bonus.explanation
    assert ticket_quality_bonus_record(ticket_id=ticket.pk) is None
    assert PayLine.objects.filter(kind="quality_bonus").count() == 1


def test_csat_below_five_pays_no_bonus():
    RateCardFactory()
    ticket = finished_ticket(minutes=5, csat_score=4)
    ticket_pay_compute(ticket_id=ticket.pk)
    assert ticket_quality_bonus_record(ticket_id=ticket.pk) is None
    assert not PayLine.objects.filter(kind="quality_bonus").exists()


@pytest.mark.parametrize("statement", ["UPDATE payouts_payline SET amount = 999", "DELETE FROM payouts_payline"])
def test_raw_sql_cannot_rewrite_the_ledger(statement):
    RateCardFactory()
    ticket = finished_ticket(minutes=5)
    ticket_pay_compute(ticket_id=ticket.pk)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert PayLine.objects.filter(amount=999).count() == 0
    assert PayLine.objects.count() == 2


def test_the_sweep_pays_a_bonus_whose_task_was_lost_once_and_only_when_it_qualifies():
    import datetime as dt

    from django.utils import timezone

    from payouts.services import LOST_PAY_TASK_SECONDS, ticket_pay_sweep

    RateCardFactory()
    rated_five, rated_four, just_rated = (finished_ticket(minutes=5) for _ in range(3))
    for ticket in (rated_five, rated_four, just_rated):
        ticket_pay_compute(ticket_id=ticket.pk)
    a_while_ago = timezone.now() - dt.timedelta(seconds=LOST_PAY_TASK_SECONDS + 5)
    # The CSATs were stored, but their bonus tasks never ran.
    type(rated_five).objects.filter(pk=rated_five.pk).update(csat_score=5, csat_at=a_while_ago)
    type(rated_four).objects.filter(pk=rated_four.pk).update(csat_score=4, csat_at=a_while_ago)
    type(just_rated).objects.filter(pk=just_rated.pk).update(csat_score=5, csat_at=timezone.now())

    assert ticket_pay_sweep() == 1
    assert ticket_pay_sweep() == 0

    [bonus] = PayLine.objects.filter(kind="quality_bonus")
    assert (bonus.ticket_id, bonus.amount) == (rated_five.pk, D("0.50"))
