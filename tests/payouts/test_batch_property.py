"""Property: for any set of ledger lines, a batch's total is the sum of its payable items, every item is
the sum of exactly its agent's lines, and no line is in two items or two batches."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from payouts.batches import payout_batch_create
from payouts.models import PayoutItem, PayoutItemLine
from tests.factories import AgentFactory, UserFactory
from tests.payouts.factories import line, payable_agent

pytestmark = pytest.mark.django_db

amounts = st.decimals(
    min_value=Decimal("-50"), max_value=Decimal("500"), places=2, allow_nan=False, allow_infinity=False
)
line_sets = st.lists(st.tuples(st.integers(min_value=0, max_value=3), amounts), max_size=30)


@pytest.fixture
def people():
    agents = [payable_agent(), payable_agent(), payable_agent(), AgentFactory()]  # the last is held
    return UserFactory(role="finance"), agents


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=line_sets, second_rows=line_sets)
def test_batch_total_is_the_sum_of_items_and_no_line_is_paid_twice(people, rows, second_rows):
    finance, agents = people
    today = timezone.now().date()
    with transaction.atomic():
        per_agent: dict[int, Decimal] = {}
        for index, amount in rows:
            line(agent=agents[index], amount=amount)
            per_agent[index] = per_agent.get(index, Decimal("0")) + amount
        positive = {index: total for index, total in per_agent.items() if total > 0}

        batches = []
        for lines_to_add in (None, second_rows):
            for index, amount in lines_to_add or []:
                line(agent=agents[index], amount=amount)
            try:
                batches.append(payout_batch_create(actor=finance, period_start=today, period_end=today, currency="EUR"))
            except DomainError as exc:
                assert exc.code == "empty_period"

        if rows:
            first = batches[0] if positive else None
            if first is not None:
                items = {item.agent_id: item for item in PayoutItem.objects.filter(batch=first)}
                assert {agents[i].pk for i in positive} == set(items)
                assert all(items[agents[i].pk].amount == total for i, total in positive.items())
                assert first.held_count == (1 if 3 in positive else 0)

        for batch in batches:
            items = PayoutItem.objects.filter(batch=batch)
            payable = items.filter(status="payable").aggregate(s=Sum("amount"))["s"] or Decimal("0")
            assert batch.total_amount == payable
            for item in items.filter(status="payable"):
                claimed = PayoutItemLine.objects.filter(item=item).aggregate(s=Sum("line__amount"), n=Count("pk"))
                assert claimed["s"] == item.amount and claimed["n"] == item.line_count
            assert not PayoutItemLine.objects.filter(item__batch=batch, item__status="held").exists()
        claims = PayoutItemLine.objects.values("line_id")
        assert claims.count() == claims.distinct().count()
        transaction.set_rollback(True)


def test_period_bounds_are_utc_days(people):
    finance, agents = people
    yesterday = timezone.now() - dt.timedelta(days=1)
    line(agent=agents[0], amount="5.00", created_at=yesterday)
    today = timezone.now().date()
    with pytest.raises(DomainError):
        payout_batch_create(actor=finance, period_start=today, period_end=today, currency="EUR")
