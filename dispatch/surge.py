"""Surge: a pay multiplier from live queue pressure, bounded by the policy and smoothed.

pressure = Σ over waiting tickets of (1 + wait / SLA target)  /  max(1, agents free to take work)

A pressure of 1 or less is no surge. Above it the target multiplier is 1 + 0.25 × (pressure − 1),
clamped to the policy's bounds; the level in force moves a third of the way to the target per
computation and only in steps of 0.05, so it does not flap with every arriving ticket.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from dispatch.models import SurgeLevel
from dispatch.selectors import dispatch_pool, queued_tickets

STEP = Decimal("0.05")
SMOOTHING = Decimal("0.34")
CACHE_KEY = "dispatch:surge"


def surge_target(*, pressure: Decimal, surge_min: Decimal, surge_max: Decimal) -> Decimal:
    target = Decimal(1) + Decimal("0.25") * (pressure - 1) if pressure > 1 else Decimal(1)
    return min(surge_max, max(surge_min, target))


def surge_smoothed(*, current: Decimal, target: Decimal) -> Decimal:
    moved = current + (target - current) * SMOOTHING
    stepped = (moved / STEP).quantize(Decimal(1), rounding=ROUND_HALF_UP) * STEP
    if stepped == current and target != current:
        stepped = current + (STEP if target > current else -STEP)
    return stepped.quantize(Decimal("0.01"))


def surge_current() -> Decimal:
    value = cache.get(CACHE_KEY)
    if value is not None:
        return Decimal(value)
    latest = SurgeLevel.objects.order_by("-computed_at").values_list("multiplier", flat=True).first()
    return latest if latest is not None else Decimal("1.00")


def surge_update(*, policy) -> Decimal:
    """Recompute the surge level; a row is written only when the level changes."""
    now = timezone.now()
    waiting = list(queued_tickets().values_list("queued_at", flat=True)[:5000])
    sla = max(1, policy.sla_target_seconds)
    load = sum((Decimal(1) + Decimal((now - queued_at).total_seconds() / sla) for queued_at in waiting), Decimal(0))
    available = dispatch_pool().filter(Q(has_capacity=True)).count()
    pressure = (load / max(1, available)).quantize(Decimal("0.001"))
    current = surge_current()
    target = surge_target(pressure=pressure, surge_min=policy.surge_min, surge_max=policy.surge_max)
    level = surge_smoothed(current=current, target=target) if target != current else current
    level = min(policy.surge_max, max(policy.surge_min, level))
    if level != current or not SurgeLevel.objects.exists():
        SurgeLevel.objects.create(
            multiplier=level, raw_pressure=pressure, waiting_tickets=len(waiting), available_agents=available
        )
    cache.set(CACHE_KEY, str(level), timeout=None)
    return level
