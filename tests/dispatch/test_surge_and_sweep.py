from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from dispatch import services
from dispatch.surge import CACHE_KEY, surge_smoothed, surge_target, surge_update
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory, online


@pytest.mark.parametrize(
    "pressure, expected",
    [("0.5", "1.00"), ("1", "1.00"), ("2", "1.25"), ("3", "1.50"), ("9", "2.00")],
)
def test_surge_target_grows_with_pressure_within_the_bounds(pressure, expected):
    assert surge_target(pressure=Decimal(pressure), surge_min=Decimal("1.00"), surge_max=Decimal("2.00")) == Decimal(
        expected
    )


def test_surge_moves_towards_the_target_in_small_steps_and_does_not_flap():
    level = Decimal("1.00")
    path = []
    for _ in range(6):
        level = surge_smoothed(current=level, target=Decimal("2.00"))
        path.append(level)
    assert path == sorted(path)
    assert path[0] < Decimal("1.50")
    assert all((b - a) % Decimal("0.05") == 0 for a, b in zip([Decimal("1.00"), *path], path, strict=False))
    assert surge_smoothed(current=Decimal("1.50"), target=Decimal("1.50")) == Decimal("1.50")


@pytest.mark.django_db
def test_surge_is_none_with_an_empty_queue_and_rises_when_tickets_wait_for_too_few_agents(policy):
    cache.delete(CACHE_KEY)
    assert surge_update(policy=policy) == Decimal("1.00")
    online(AgentFactory())
    for _ in range(6):
        ticket = TicketFactory(language="sv")
        ticket.queued_at = timezone.now() - timedelta(seconds=120)
        ticket.save()
    levels = [surge_update(policy=policy) for _ in range(4)]
    assert levels[-1] > Decimal("1.00")
    assert levels == sorted(levels)
    assert levels[-1] <= policy.surge_max


@pytest.mark.django_db
def test_the_sweep_runs_with_an_empty_queue_and_with_work_waiting(policy):
    set_policy(offer_timeout_seconds=20)
    assert services.dispatch_sweep()["offered"] == 0
    online(AgentFactory(languages=["en"]))
    TicketFactory(language="en")
    assert services.dispatch_sweep()["offered"] == 1
