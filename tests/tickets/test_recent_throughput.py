"""The estimated wait's throughput count: exact while small, shared for a few seconds once large."""

import pytest
from django.utils import timezone

from tests.factories import AgentFactory, TicketFactory
from tickets import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_above_two(monkeypatch):
    monkeypatch.setattr(selectors, "THROUGHPUT_COUNT_EXACT_BELOW", 2)
    selectors._throughput_shared.clear()
    yield
    selectors._throughput_shared.clear()


def assigned_now():
    return TicketFactory(status="resolved", assigned_agent=AgentFactory(), assigned_at=timezone.now())


def test_a_small_count_is_taken_every_time(shared_above_two):
    assigned_now()
    assert selectors.recent_assignments() == 1
    assigned_now()
    assert selectors.recent_assignments() == 2


def test_a_large_count_is_reused_for_a_few_seconds_then_taken_again(shared_above_two, monkeypatch):
    assigned_now()
    assigned_now()
    assert selectors.recent_assignments() == 2
    assigned_now()
    assert selectors.recent_assignments() == 2  # shared
    monkeypatch.setattr(selectors, "THROUGHPUT_COUNT_SECONDS", 0)
    assert selectors.recent_assignments() == 3
