"""Erlang C against published worked examples, and the forecast against a hand-computed case."""

from datetime import UTC, datetime, timedelta

import pytest

from supervisor.staffing import (
    agents_needed,
    coverage_plan,
    erlang_c,
    forecast_by_hour_of_week,
    service_level,
    traffic_erlangs,
)


def test_call_centre_helper_worked_example():
    """Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example"
    (https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm): 100 calls in 30 minutes,
    average handling time 180 s, 80% to be answered within 20 s. Traffic A = 200/h × 180 s = 10 erlangs.
    Published: with 11 agents the probability a call waits is 68.21% and the service level 39%; 12 agents
    reach 64%, 13 agents 79.6%, and 14 agents 88.8%, the first to meet 80/20 (raw agents, before
    shrinkage and occupancy)."""
    traffic = traffic_erlangs(arrivals_per_hour=200, handle_seconds=180)
    assert traffic == pytest.approx(10.0)
    assert erlang_c(traffic=traffic, agents=11) == pytest.approx(0.6821, abs=0.0001)
    published = {11: 0.39, 12: 0.64, 13: 0.796, 14: 0.888}
    for agents, level in published.items():
        assert service_level(traffic=traffic, agents=agents, handle_seconds=180, target_seconds=20) == pytest.approx(
            level, abs=0.001 if agents > 12 else 0.005
        )
    assert agents_needed(arrivals_per_hour=200, handle_seconds=180, target_seconds=20, target_ratio=0.8) == 14


def test_mitan_erlang_c_worked_example():
    """The step-by-step example of "The Erlang-C formula" (Mitan Ltd / Westbay Engineers, erlang.com):
    360 calls per half hour, 4-minute calls, 55 agents, 15-second target. Traffic 48 erlangs, occupancy
    87.3%; published: about 24% of calls wait, average speed of answer about 8.2 s, and 84.6% are
    answered within 15 s."""
    traffic = traffic_erlangs(arrivals_per_hour=720, handle_seconds=240)
    assert traffic == pytest.approx(48.0)
    waits = erlang_c(traffic=traffic, agents=55)
    assert waits == pytest.approx(0.24, abs=0.005)
    assert waits * 240 / (55 - 48) == pytest.approx(8.2, abs=0.05)  # average speed of answer
    assert service_level(traffic=traffic, agents=55, handle_seconds=240, target_seconds=15) == pytest.approx(
        0.846, abs=0.001
    )


def test_erlang_c_by_hand_for_two_agents_one_erlang():
    """A = 1, N = 2: (1/2 · 2/1) / (1 + 1 + 1/2 · 2/1) = 1/3."""
    assert erlang_c(traffic=1.0, agents=2) == pytest.approx(1 / 3)


def test_no_traffic_needs_nobody_and_overload_never_meets_the_target():
    assert agents_needed(arrivals_per_hour=0, handle_seconds=300, target_seconds=60, target_ratio=0.8) == 0
    assert service_level(traffic=5, agents=5, handle_seconds=300, target_seconds=60) == 0.0
    assert erlang_c(traffic=5, agents=4) == 1.0


NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday


def test_forecast_is_the_mean_of_the_same_hour_over_the_last_four_weeks():
    """Mondays 09:00-10:00 of the last four weeks had 4, 0 (no row), 6 and 10 tickets: (4+0+6+10)/4 = 5.
    Tuesday 14:00 had 3 tickets once: 3/4 = 0.75. Data older than four weeks and the current hour are
    ignored."""
    monday_9 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    history = {
        monday_9 - timedelta(weeks=1): 4,
        monday_9 - timedelta(weeks=3): 6,
        monday_9 - timedelta(weeks=4): 10,
        monday_9 - timedelta(weeks=5): 100,  # too old
        monday_9: 50,  # the current hour is not complete: not history
        datetime(2026, 2, 24, 14, tzinfo=UTC): 3,  # a Tuesday 14:00
    }
    forecast = forecast_by_hour_of_week(hourly_arrivals=history, now=NOW)
    assert forecast[(0, 9)] == 5.0
    assert forecast[(1, 14)] == 0.75
    assert forecast[(2, 9)] == 0.0
    assert len(forecast) == 7 * 24


def test_coverage_plan_counts_booked_shifts_against_the_need():
    monday_9 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    history = {monday_9 - timedelta(weeks=k): 20 for k in range(1, 5)}  # 20 per hour on Mondays 09:00
    plan = coverage_plan(
        hourly_arrivals=history,
        booked_windows=[(monday_9 - timedelta(minutes=30), monday_9 + timedelta(minutes=30), 2)],
        now=NOW,
        hours=3,
        handle_seconds=360,
        target_seconds=60,
        target_ratio=0.8,
    )
    assert [h.starts_at for h in plan] == [monday_9 + timedelta(hours=i) for i in range(3)]
    first = plan[0]
    assert first.forecast_arrivals == 20.0
    # 20/h × 6 min = 2 erlangs; 3 agents answer 62.4% within 60 s, 4 agents 87.5%.
    assert first.needed == 4
    assert first.booked == 2 and first.gap == -2
    assert plan[1].needed == 0 and plan[1].booked == 0
