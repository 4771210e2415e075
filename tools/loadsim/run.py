"""One simulation from start to end: connect the agents, stream escalations, drain, clean up."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from tools.loadsim.agents import AgentBehaviour, AgentPool
from tools.loadsim.intake import TicketStream
from tools.loadsim.population import SimPopulation
from tools.loadsim.stats import SimStats, watch_loop_lag
from tools.loadsim.webhooks import WebhookReceiver


@dataclass(frozen=True)
class SimConfig:
    agents: int = 2000
    rate: float = 50.0  # escalations per second, on average
    duration_seconds: float = 60.0
    behaviour: AgentBehaviour = AgentBehaviour()
    languages: tuple[tuple[str, float], ...] = (("en", 6.0), ("de", 3.0), ("sv", 1.0))
    skills: tuple[str, ...] = ("payments", "refunds", "disputes", "account")
    skill_share: float = 0.5  # share of tickets that need one skill
    containment_share: float = 0.0  # share of the bot's conversations it contains (reported, no ticket)
    seed: int = 1
    report_every_seconds: float = 5.0
    drain_seconds: float | None = None  # None: the longest think plus handle time, and some slack


async def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def simulate(
    *,
    config: SimConfig,
    population: SimPopulation,
    api_urls: list[str],
    receiver: WebhookReceiver,
    say: Callable[[str], None] = print,
) -> SimStats:
    """Run the simulation against the servers at `api_urls`; returns what was observed. Whatever is
    still open at the end is finished: assigned tickets are resolved, waiting ones cancelled."""
    stats = receiver.stats
    pool = AgentPool(api_urls=api_urls, behaviour=config.behaviour, stats=stats, seed=config.seed)
    stream = TicketStream(
        api_urls=api_urls,
        token=population.integration_token,
        stats=stats,
        languages=list(config.languages),
        skills=list(config.skills),
        skill_share=config.skill_share,
        containment_share=config.containment_share,
        seed=config.seed,
    )
    try:
        say(f"connecting {config.agents} agents to {', '.join(api_urls)} ...")
        report = await pool.connect(population.agent_tokens[: config.agents])
        say(f"{report.connected} agents online in {report.seconds:.1f} s, {report.failed} failed")
        for failure in report.failures:
            say(f"  connection failure: {failure}")
        if not report.connected:
            return stats

        stats.started_at = time.perf_counter()
        progress = asyncio.create_task(_report_progress(stats, config.report_every_seconds, say))
        lag = asyncio.create_task(watch_loop_lag(lambda: stats))
        say(f"escalating at {config.rate}/s for {config.duration_seconds:g} s ...")
        await stream.run(rate=config.rate, duration=config.duration_seconds)

        behaviour = config.behaviour
        drain = config.drain_seconds
        if drain is None:
            drain = behaviour.think_seconds[1] + behaviour.handle_seconds[1] + 10
        say(f"intake stopped; waiting up to {drain:g} s for open tickets to be resolved ...")
        await wait_for(lambda: set(stream.ticket_ids.values()) <= stats.resolved, timeout=drain)
        progress.cancel()
        lag.cancel()
        await pool.finish_work()
        stats.cancelled = await stream.cancel_unassigned(assigned_ticket_ids=pool.assigned_ticket_ids)
        if config.containment_share:
            stats.rated = await stream.rate_resolved(resolved_ticket_ids=stats.resolved)
        # Each resolved ticket was announced twice (assigned, resolved); give the worker a moment.
        await wait_for(
            lambda: (
                stats.webhooks["ticket.resolved"] >= len(stats.resolved)
                and stats.webhooks["ticket.assigned"] >= len(stats.assigned)
            ),
            timeout=15,
        )
        if pool.dropped:
            say(f"{pool.dropped} sockets were closed by the server during the run")
        return stats
    finally:
        await pool.close()
        await stream.close()


async def _report_progress(stats: SimStats, every_seconds: float, say: Callable[[str], None]) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        say(stats.progress_line())
