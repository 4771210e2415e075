"""Rate and lock-out counters live in Redis, which outlives a test: each security test starts and ends
with none, so neither an earlier test's requests nor these tests' small limits reach another test."""

import pytest

from core.ratelimit import rate_counters_clear


@pytest.fixture(autouse=True)
def fresh_rate_counters():
    rate_counters_clear()
    yield
    rate_counters_clear()
