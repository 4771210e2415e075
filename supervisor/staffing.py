"""Staffing: how many agents each hour needs, from a forecast and the Erlang C formula. Pure functions.

Forecast. The arrivals expected in an hour are the mean of the arrivals in the same hour of the week
(weekday and hour, in UTC) over the last `weeks` complete weeks before now:

    forecast(Tue 14:00) = (n(Tue 14:00, 1 week ago) + ... + n(Tue 14:00, 4 weeks ago)) / 4

An hour of the window with no tickets counts as 0, so a quiet week pulls the mean down.

Erlang C. With arrivals λ per hour and a mean handle time h seconds, the offered traffic is
A = λ·h/3600 erlangs. With N agents (N > A) the probability that a ticket waits at all is

    C(N, A) = (A^N/N! · N/(N−A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N−A))

and the share answered within t seconds (the service level) is SL = 1 − C(N, A)·e^{−(N−A)·t/h}.
The agents needed is the smallest N with SL ≥ the policy's target ratio for its target seconds.
C is computed through the Erlang B recursion, which never overflows: B(0) = 1,
B(n) = A·B(n−1) / (n + A·B(n−1)), C = N·B / (N − A·(1 − B)).
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)
MAX_AGENTS = 100_000


def traffic_erlangs(*, arrivals_per_hour: float, handle_seconds: float) -> float:
    return arrivals_per_hour * handle_seconds / 3600.0


def erlang_b(*, traffic: float, agents: int) -> float:
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def erlang_c(*, traffic: float, agents: int) -> float:
    """Probability that an arriving ticket has to wait (1 when the agents cannot keep up: N ≤ A)."""
    if agents <= traffic:
        return 1.0
    if traffic <= 0:
        return 0.0
    blocking = erlang_b(traffic=traffic, agents=agents)
    return agents * blocking / (agents - traffic * (1 - blocking))


def service_level(*, traffic: float, agents: int, handle_seconds: float, target_seconds: float) -> float:
    """Share of tickets answered within `target_seconds` with `agents` agents."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    waits = erlang_c(traffic=traffic, agents=agents)
    return 1.0 - waits * math.exp(-(agents - traffic) * target_seconds / handle_seconds)


def agents_needed(
    *, arrivals_per_hour: float, handle_seconds: float, target_seconds: float, target_ratio: float
) -> int:
    """The fewest agents that answer `target_ratio` of the tickets within `target_seconds`."""
    traffic = traffic_erlangs(arrivals_per_hour=arrivals_per_hour, handle_seconds=handle_seconds)
    if traffic <= 0:
        return 0
    agents = max(1, math.floor(traffic) + 1)
    while agents < MAX_AGENTS:
        level = service_level(
            traffic=traffic, agents=agents, handle_seconds=handle_seconds, target_seconds=target_seconds
        )
        if level >= target_ratio:
            return agents
        agents += 1
    return agents


def hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hour_of_week(moment: datetime) -> tuple[int, int]:
    return moment.weekday(), moment.hour


def forecast_by_hour_of_week(
    *, hourly_arrivals: Mapping[datetime, int], now: datetime, weeks: int = 4
) -> dict[tuple[int, int], float]:
    """Mean arrivals per (weekday, hour) over the `weeks` complete weeks ending at the start of now's hour.

    `hourly_arrivals` maps the start of an hour (aware, UTC) to the tickets created in it.
    """
    end = hour_start(now)
    start = end - weeks * WEEK
    totals = {(day, hour): 0 for day in range(7) for hour in range(24)}
    for moment, count in hourly_arrivals.items():
        if start <= moment < end:
            totals[hour_of_week(moment)] += count
    return {slot: total / weeks for slot, total in totals.items()}


@dataclass(frozen=True)
class CoverageHour:
    starts_at: datetime
    forecast_arrivals: float
    needed: int
    booked: int

    @property
    def gap(self) -> int:
        return self.booked - self.needed


def coverage_plan(
    *,
    hourly_arrivals: Mapping[datetime, int],
    booked_windows: Iterable[tuple[datetime, datetime, int]],
    now: datetime,
    hours: int,
    handle_seconds: float,
    target_seconds: float,
    target_ratio: float,
    weeks: int = 4,
) -> list[CoverageHour]:
    """Booked against needed agents for each of the next `hours` hours from the start of now's hour.

    `booked_windows` are (starts_at, ends_at, agents booked) of shifts; an agent counts for an hour when
    their shift covers any part of it.
    """
    forecast = forecast_by_hour_of_week(hourly_arrivals=hourly_arrivals, now=now, weeks=weeks)
    windows = list(booked_windows)
    first = hour_start(now)
    plan = []
    for index in range(hours):
        starts = first + index * HOUR
        ends = starts + HOUR
        arrivals = forecast[hour_of_week(starts)]
        plan.append(
            CoverageHour(
                starts_at=starts,
                forecast_arrivals=round(arrivals, 2),
                needed=agents_needed(
                    arrivals_per_hour=arrivals,
                    handle_seconds=handle_seconds,
                    target_seconds=target_seconds,
                    target_ratio=target_ratio,
                ),
                booked=sum(count for s, e, count in windows if s < ends and e > starts),
            )
        )
    return plan
