"""The benchmark (`make bench`): how fast, how far, against the limit. See docs/benchmarks.md.

Starts the platform as in production on PostgreSQL and Redis (DEBUG=false; the Procfile's processes:
the web process twice on two ports, the Celery worker with two prefork processes, beat, the dispatcher),
drives it with the load simulator (tools/loadsim: real websockets, the real intake API) and prints a
markdown table, also written to var/bench-<date>.md:

  a. latency at 100, 1,000 and 10,000 online agents: intake request sent -> offer frame received,
     accept sent -> `assigned` received (p50/p95/p99);
  b. sustained escalations per second: the rate stepped up until offers stop keeping up;
  c. websockets held by one ASGI process, with the offer latency of its agents, and a reconnect storm
     (every socket of that process dropped and reconnected at once);
  d. CPU seconds and peak RSS per process, and CPU per dispatched ticket;
  e. the engine alone, in this process: decisions per second at a queue of 1,000 and 10,000 agents;
  f. baselines: pgbench running the minimal dispatch transaction, redis-benchmark PUBLISH.

    make bench                                   # everything, under 10 minutes on 2 cores
    .venv/bin/python scripts/bench.py --quick    # small sizes, about 2 minutes, for development
    .venv/bin/python scripts/bench.py --only latency,baselines

DATABASE_URL (default postgres://postgres@127.0.0.1:5432/dispatch_bench) names a database the benchmark
owns: it is dropped and created again, so its name must contain "bench". REDIS_URL (default
redis://127.0.0.1:6379/8) names a Redis database that is flushed.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dispatch_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
SCENARIOS = ("latency", "throughput", "sockets", "engine", "baselines")
MIB = 1024 * 1024
LOAD_GENERATOR = "load generator (this script)"
# The run, setup included; with `make bench` installing into a fresh venv first, under 10 minutes.
RUN_BUDGET_SECONDS = 450
DRAIN_SECONDS = 20  # at most, before each step, for the backlog of an earlier one
AFTER_SCENARIOS_SECONDS = 80  # closing sockets, stopping the platform (up to 15 s a process), the baselines


@dataclass(frozen=True)
class Sizes:
    latency_pools: tuple[int, ...]  # online agents, spread over both servers
    latency_rate: float
    latency_seconds: float
    throughput_pool: int
    throughput_rates: tuple[float, ...]
    throughput_step_seconds: float
    one_process_sockets: tuple[int, ...]
    one_process_rate: float
    one_process_seconds: float
    pgbench_seconds: int
    engine_queue: int = 1000
    engine_pool: int = 10000


FULL = Sizes(
    latency_pools=(100, 1000, 10000),
    latency_rate=20,
    latency_seconds=20,
    throughput_pool=1000,
    throughput_rates=(25, 50, 100, 150, 200),
    throughput_step_seconds=10,
    one_process_sockets=(1000, 2500, 5000),
    one_process_rate=20,
    one_process_seconds=5,
    pgbench_seconds=10,
)
QUICK = Sizes(
    latency_pools=(20, 100),
    latency_rate=5,
    latency_seconds=5,
    throughput_pool=100,
    throughput_rates=(10, 25),
    throughput_step_seconds=5,
    one_process_sockets=(100, 200),
    one_process_rate=5,
    one_process_seconds=4,
    pgbench_seconds=3,
    engine_queue=200,
    engine_pool=1000,
)


# --- Figures and the table -------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:  # NaN: no samples
        return "-"
    return f"{seconds * 1000:.1f}"


def markdown_table(headers: list[str], rows: list[list]) -> list[str]:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


@dataclass
class Report:
    """What the run measured, section by section, rendered as markdown at the end."""

    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    context: list[str] = field(default_factory=list)
    latency_rows: list[list] = field(default_factory=list)
    throughput_rows: list[list] = field(default_factory=list)
    sustained_rate: float | None = None
    one_process_rows: list[list] = field(default_factory=list)
    reconnect_rows: list[list] = field(default_factory=list)
    lifecycle: dict | None = None
    engine: object = None  # tools.enginebench.EngineFigures
    process_rows: list[list] = field(default_factory=list)
    cpu_per_ticket_ms: float | None = None
    pgbench_tps: float | None = None
    publish_per_second: float | None = None
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"# Benchmark {self.started:%Y-%m-%d %H:%M} UTC", "", *self.context, ""]
        if self.latency_rows:
            lines += ["## a. Latency by pool size (ms, measured on the agent's socket)", ""]
            lines += markdown_table(
                [
                    "online agents",
                    "tickets",
                    "intake→offer p50",
                    "p95",
                    "p99",
                    "accept→assigned p50",
                    "p95",
                    "p99",
                    "without offer",
                    "generator lag p99",
                ],
                self.latency_rows,
            )
            lines.append("")
        if self.throughput_rows:
            lines += ["## b. Sustained escalations per second", ""]
            lines += markdown_table(
                [
                    "target /s",
                    "sent /s",
                    "offered /s",
                    "queued at start",
                    "queued at end",
                    "intake→offer p50 (ms)",
                    "p99 (ms)",
                    "keeps up",
                    "generator lag p99 (ms)",
                ],
                self.throughput_rows,
            )
            sustained = "none of the steps" if self.sustained_rate is None else f"{self.sustained_rate:.1f}/s"
            lines += ["", f"Sustained with the queue stable: **{sustained}**", ""]
        if self.one_process_rows:
            lines += ["## c. Websockets held by one ASGI process", ""]
            lines += markdown_table(
                [
                    "sockets on web0",
                    "connect time (s)",
                    "connects /s",
                    "offers to web0",
                    "offer p99 (ms)",
                    "web0 RSS (MiB)",
                    "generator lag p99 (ms)",
                ],
                self.one_process_rows,
            )
            lines.append("")
        if self.reconnect_rows:
            lines += ["### Reconnect storm: every socket of web0 dropped and reconnected at once", ""]
            lines += markdown_table(
                ["sockets", "all online again after (s)", "connects /s", "failed"], self.reconnect_rows
            )
            lines.append("")
        if self.process_rows:
            lines += ["## d. CPU and memory per process (whole run)", ""]
            lines += markdown_table(["process", "CPU seconds", "peak RSS (MiB)"], self.process_rows)
            if self.cpu_per_ticket_ms is not None:
                lines += [
                    "",
                    f"CPU per dispatched ticket (platform processes, scenario b): **{self.cpu_per_ticket_ms:.1f} ms**",
                ]
            if self.lifecycle:
                life = self.lifecycle
                parts = ", ".join(
                    f"{name} {value:.1f}" for name, value in life["by_process_ms"].items() if value >= 0.05
                )
                lines += [
                    "",
                    f"CPU per ticket over its whole life (intake, offer, ack, accept, resolve, wrap-up, pay, webhooks; "
                    f"{life['tickets']} tickets at 20/s, every process, PostgreSQL and Redis included"
                    + ("" if life["finished"] else "; not all finished within 90 s")
                    + f"): **{life['cpu_ms']:.1f} ms** ({parts}, in ms per ticket)",
                ]
            lines.append("")
        if self.engine is not None:
            engine = self.engine
            share = f"{100 * engine.median / self.pgbench_tps:.0f} %" if self.pgbench_tps else "-"
            lines += ["## e. The engine alone (in this process, platform stopped)", ""]
            lines += markdown_table(
                ["queue", "online pool", "decisions /s (median)", "rounds", "queries per cycle", "of pgbench"],
                [
                    [
                        engine.queue,
                        engine.pool,
                        _number(engine.median),
                        " / ".join(_number(r) for r in engine.rounds),
                        engine.queries_per_cycle,
                        share,
                    ]
                ],
            )
            lines += [
                "",
                "A decision here is what the platform does for a ticket: eligibility, ranking, the claim, the "
                "offer with its decision record and pay estimate, the ticket moved, the frame sent and the "
                "expiry scheduled; pgbench's transaction (f.) inserts, locks and updates only.",
                "",
            ]
        if self.pgbench_tps is not None or self.publish_per_second is not None:
            lines += ["## f. Baselines", ""]
            share = (
                f"{100 * self.sustained_rate / self.pgbench_tps:.1f} %"
                if self.pgbench_tps and self.sustained_rate
                else "-"
            )
            lines += markdown_table(
                [
                    "pgbench minimal dispatch transaction (tps)",
                    "redis-benchmark PUBLISH (/s)",
                    "our sustained rate / pgbench",
                ],
                [[_number(self.pgbench_tps), _number(self.publish_per_second), share]],
            )
            lines.append("")
        if self.notes:
            lines += ["## Notes", "", *[f"- {note}" for note in self.notes], ""]
        return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def throughput_step_keeps_up(*, rate: float, queued_at_start: int, queued_at_end: int, offer_p99: float) -> bool:
    """A step keeps up when the queue did not grow by more than one second's arrivals and the 99th
    percentile of intake→offer stayed under a second."""
    return queued_at_end <= queued_at_start + rate and offer_p99 == offer_p99 and offer_p99 < 1.0


@dataclass(frozen=True)
class Step:
    """One measurement: `kind` is latency, throughput or sockets; before it the pool grows to `total`
    agents (spread over both servers, or on web0 only for the one-process scenario)."""

    kind: str
    total: int
    server_index: int | None
    connects: int  # new sockets this step opens
    measure_seconds: float  # what it needs besides connecting, for the time budget


def scenario_plan(sizes: Sizes, only: set[str]) -> list[Step]:
    """The steps in order: the smaller latency pools, the throughput steps, web0 filled up for the
    one-process scenario, and last the largest latency pool, whose sockets are those on web0 plus as
    many again on web1 (so the largest pool costs no extra connections)."""
    on_web = [0, 0]
    steps = []

    def step(kind: str, total: int, server_index: int | None, measure_seconds: float) -> None:
        before = sum(on_web)
        if server_index is None:
            while sum(on_web) < total:
                on_web[on_web.index(min(on_web))] += 1
        else:
            on_web[server_index] = max(on_web[server_index], total)
        steps.append(Step(kind, total, server_index, sum(on_web) - before, measure_seconds))

    latency_seconds = sizes.latency_seconds + 14  # settle, stream, wait for the last offers
    if "latency" in only:
        for pool in sizes.latency_pools[:-1]:
            step("latency", pool, None, latency_seconds)
    if "throughput" in only:
        steps_seconds = len(sizes.throughput_rates) * (sizes.throughput_step_seconds + 1) + 20
        step("throughput", sizes.throughput_pool, None, steps_seconds)
    if "sockets" in only:
        for sockets in sizes.one_process_sockets:
            step("sockets", sockets, 0, sizes.one_process_seconds + 14)
    if "latency" in only:
        step("latency", sizes.latency_pools[-1], None, latency_seconds)
    return steps


# --- Processes -------------------------------------------------------------------------------------


class ProcessMonitor:
    """Samples RSS of the platform's processes (and the Celery prefork children) every half second,
    keeping the peak; CPU seconds are read from the kernel's counters when asked."""

    def __init__(self, processes: dict[str, int]):
        import psutil

        self.psutil = psutil
        self.roots = {name: psutil.Process(pid) for name, pid in processes.items()}
        self.peak_rss: dict[str, int] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, name="process-monitor", daemon=True)

    def members(self) -> dict[str, object]:
        """Every process by name: a root, and for the worker each prefork child as `worker/child-N`."""
        found = {}
        for name, root in self.roots.items():
            found[name] = root
            if name == LOAD_GENERATOR:
                continue  # its children are the platform's processes, listed under their own names
            with contextlib.suppress(self.psutil.Error):
                for number, child in enumerate(sorted(root.children(recursive=True), key=lambda p: p.pid), 1):
                    found[f"{name}/child-{number}"] = child
        return found

    def _sample(self) -> None:
        while not self.stopping.wait(0.5):
            for name, process in self.members().items():
                with contextlib.suppress(self.psutil.Error):
                    self.peak_rss[name] = max(self.peak_rss.get(name, 0), process.memory_info().rss)

    def cpu_seconds(self) -> dict[str, float]:
        seconds = {}
        for name, process in self.members().items():
            with contextlib.suppress(self.psutil.Error):
                times = process.cpu_times()
                seconds[name] = times.user + times.system
        return seconds

    def server_cpu_seconds(self, *, database: str, redis_port: int) -> dict[str, float]:
        """CPU of the servers the platform uses: PostgreSQL's backends serving `database` (one per pooled
        connection) and redis-server on `redis_port` (shared with whatever else uses that server)."""
        postgres, redis_server = 0.0, 0.0
        for process in self.psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(self.psutil.Error):
                command = " ".join(process.info["cmdline"] or [])
                times = process.cpu_times()
                if process.info["name"] in ("postgres", "postmaster") and f" {database} " in f"{command} ":
                    postgres += times.user + times.system
                elif process.info["name"] == "redis-server" and f":{redis_port}" in command:
                    redis_server += times.user + times.system
        return {f"postgres ({database} backends)": postgres, f"redis-server :{redis_port}": redis_server}

    def rss(self, name: str) -> int:
        return self.roots[name].memory_info().rss

    def start(self) -> "ProcessMonitor":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


def platform_env(database_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "false",
        # Plain http on localhost: no TLS proxy in front to redirect to.
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
        # One simulated bot sends every escalation; the benchmark measures dispatch, not the per-bot
        # intake limit (6000/min by default), which would refuse some of its escalations at the higher steps.
        "RATE_LIMIT_INTAKE": "1000000/min",
        # Each process has its own pool: 2 web x 10 + 2 worker children + beat + this script stays
        # well inside PostgreSQL's max_connections=100, which other users of the server share.
        "DB_POOL_MAX_SIZE": "10",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


class Platform:
    """Every process of the Procfile, started as in production: the web process twice (on two ports, so
    one process's sockets can be measured alone), the worker, beat and the dispatcher once each."""

    def __init__(self, *, env: dict, log_dir: Path):
        from ops.runplatform import procfile_processes
        from tests.live import ManagedProcess, free_port

        self.log_dir = log_dir
        path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        base = {
            **env,
            "PATH": path,
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "CELERY_BEAT_SCHEDULE_FILE": str(log_dir / "celerybeat-schedule"),
        }
        self.web, self.others = [], []
        for name, command in procfile_processes().items():
            for index in range(2 if name == "web" else 1):
                process_env = {**base, "PORT": str(free_port())} if name == "web" else base
                label = f"web{index}" if name == "web" else name
                process = ManagedProcess(label, ["sh", "-c", f"exec {command}"], process_env, log_dir / f"{label}.log")
                (self.web if name == "web" else self.others).append(process)
        self.worker = next(p for p in self.others if p.name == "worker")

    @property
    def processes(self):
        return [*self.web, *self.others]

    def names(self) -> str:
        return ", ".join(p.name for p in self.processes)

    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{server.env['PORT']}" for server in self.web]

    def start(self) -> None:
        from config.celery import ping_task
        from tests.live import wait_for_http

        for process in self.processes:
            process.start()
        for server, url in zip(self.web, self.api_urls(), strict=True):
            wait_for_http(f"{url}/healthz", server)
        ping_task.apply_async(args=["ready"]).get(timeout=120)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


# --- Setup ---------------------------------------------------------------------------------------


def database_recreate(database_url: str) -> None:
    import psycopg

    parts = urlparse(database_url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(
            f"DATABASE_URL names {name!r}: the benchmark drops its database, so the name must contain 'bench'"
        )
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def django_setup(database_url: str, redis_url: str) -> None:
    os.environ.update(platform_env(database_url, redis_url))
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)


# --- Scenarios -----------------------------------------------------------------------------------


def queued_count() -> int:
    from tickets.models import Ticket, TicketStatus

    return Ticket.objects.filter(status=TicketStatus.QUEUED).count()


class Bench:
    def __init__(self, *, sizes: Sizes, only: set[str], report: Report, platform_: Platform, population, receiver):
        from tools.loadsim.agents import AgentBehaviour, AgentPool
        from tools.loadsim.intake import TicketStream
        from tools.loadsim.stats import SimStats

        self.sizes = sizes
        self.only = only
        self.report = report
        self.platform = platform_
        self.population = population
        self.receiver = receiver
        self.unused_tokens = list(population.agent_tokens)
        self.warmed_up = False
        api_urls = platform_.api_urls()
        # Quick hands: agents free up fast, so a step measures dispatch and not a shortage of agents.
        behaviour = AgentBehaviour(
            think_seconds=(0.1, 0.5), handle_seconds=(1.0, 3.0), decline_share=0.0, ignore_share=0.0
        )
        self.new_stats = SimStats
        self.pool = AgentPool(api_urls=api_urls, behaviour=behaviour, stats=receiver.stats, seed=1)
        self.stream = TicketStream(
            api_urls=api_urls,
            token=population.integration_token,
            stats=receiver.stats,
            languages=[("en", 1.0)],
            skills=["payments", "refunds", "disputes", "account"],
            skill_share=0.5,
            seed=1,
        )
        self.plan = scenario_plan(sizes, only)

    def say(self, line: str) -> None:
        print(f"[{time.perf_counter() - START:6.1f}s] {line}", flush=True)

    def window(self):
        """A fresh set of counters for the next measurement, shared by agents, intake and webhooks."""
        stats = self.new_stats()
        self.pool.stats = self.stream.stats = self.receiver.stats = stats
        return stats

    async def grow_pool(self, step: Step, deadline: float) -> tuple[int, float]:
        """Connect agents until `step.total` are online (on its server, or spread), giving up on those
        whose turn comes after `deadline`. Returns (connected, seconds)."""
        if step.server_index is None:
            have = len(self.pool.agents)
        else:
            have = len(self.pool.on_server(step.server_index))
        wanted = max(0, step.total - have)
        if not step.connects or not wanted:
            return 0, 0.0  # a shortfall of an earlier step was reported there
        tokens, self.unused_tokens = self.unused_tokens[:wanted], self.unused_tokens[wanted:]
        report = await self.pool.connect(tokens, server_index=step.server_index, deadline=deadline)
        self.unused_tokens = report.skipped_tokens + self.unused_tokens
        self.say(
            f"{report.connected} agents connected in {report.seconds:.1f} s "
            f"({report.failed} failed, {report.skipped} not tried for lack of time)"
        )
        for failure in report.failures:
            self.say(f"  failure: {failure}")
        if report.failed:
            self.report.notes.append(
                f"{report.failed} of {len(tokens)} websocket connections failed: {report.failures[:1]}"
            )
        if report.skipped:
            self.report.notes.append(
                f"time budget: {report.skipped} of {len(tokens)} agents for the step at {step.total} were not "
                f"connected ({report.connected} connected in {report.seconds:.0f} s, "
                f"{report.connected / max(report.seconds, 1e-9):.0f}/s); the row shows the pool actually online"
            )
        await asyncio.sleep(2)  # let the presence writes and the pool's cached figures settle
        if not self.warmed_up:
            await self.warm_up()
        return report.connected, report.seconds

    async def warm_up(self) -> None:
        """A few unmeasured escalations first: the first requests of a fresh process pay for imports,
        connection pools and caches, which is not what any step measures."""
        from tools.loadsim.run import wait_for

        self.warmed_up = True
        stats = self.window()
        await self.stream.run(rate=5, duration=3)
        await wait_for(lambda: len(stats.assigned) >= stats.sent, timeout=15)

    async def measure(self, *, rate: float, seconds: float, grace: float = 10.0):
        """Stream escalations and wait (up to `grace`) for their offers and accepts; returns the stats."""
        from tools.loadsim.run import wait_for

        stats = self.window()
        await self.stream.run(rate=rate, duration=seconds)
        self.note_intake_failures(stats)
        await wait_for(
            lambda: stats.not_yet_offered == 0 and len(stats.accept_latency) >= len(stats.offered), timeout=grace
        )
        return stats

    def note_intake_failures(self, stats) -> None:
        if stats.intake_failures:
            failures = ", ".join(
                f"HTTP {code or 'no answer'}: {n}" for code, n in sorted(stats.intake_failures.items())
            )
            self.report.notes.append(f"escalations refused or lost at intake ({failures}); not in the figures")

    async def latency(self, step: Step, deadline: float) -> None:
        from tools.loadsim.stats import percentile

        await self.grow_pool(step, deadline)
        online = len(self.pool.agents)
        self.say(f"latency at {online} online agents: {self.sizes.latency_rate}/s for {self.sizes.latency_seconds:g} s")
        stats = await self.measure(rate=self.sizes.latency_rate, seconds=self.sizes.latency_seconds)
        offer, accept = stats.offer_latencies(), stats.accept_latency
        self.report.latency_rows.append(
            [online, stats.sent]
            + [ms(percentile(offer, q)) for q in (0.5, 0.95, 0.99)]
            + [ms(percentile(accept, q)) for q in (0.5, 0.95, 0.99)]
            + [stats.not_yet_offered, ms(percentile(stats.loop_lag, 0.99))]
        )
        self.say(stats.progress_line())

    async def throughput(self, step: Step, deadline: float, monitor: ProcessMonitor) -> None:
        from asgiref.sync import sync_to_async

        from tools.loadsim.stats import percentile

        count_queued = sync_to_async(queued_count, thread_sensitive=False)
        await self.grow_pool(step, deadline)
        cpu_before = monitor.cpu_seconds()
        dispatched = 0
        for rate in self.sizes.throughput_rates:
            queued_at_start = await count_queued()
            stats = self.window()
            started = time.perf_counter()
            await self.stream.run(rate=rate, duration=self.sizes.throughput_step_seconds)
            elapsed = time.perf_counter() - started
            self.note_intake_failures(stats)
            await asyncio.sleep(0.5)  # the last second's arrivals get their chance
            queued_at_end = await count_queued()
            offer = stats.offer_latencies()
            p99 = percentile(offer, 0.99)
            keeps_up = throughput_step_keeps_up(
                rate=rate, queued_at_start=queued_at_start, queued_at_end=queued_at_end, offer_p99=p99
            )
            dispatched += len(stats.offered)
            self.report.throughput_rows.append(
                [
                    f"{rate:g}",
                    f"{stats.sent / elapsed:.1f}",
                    f"{len(stats.offered) / elapsed:.1f}",
                    queued_at_start,
                    queued_at_end,
                    ms(percentile(offer, 0.5)),
                    ms(p99),
                    "yes" if keeps_up else "no",
                    ms(percentile(stats.loop_lag, 0.99)),
                ]
            )
            self.say(f"step {rate:g}/s: {stats.progress_line()}; queued {queued_at_start} -> {queued_at_end}")
            if not keeps_up:
                break
            self.report.sustained_rate = len(stats.offered) / elapsed
        cpu_after = monitor.cpu_seconds()
        platform_cpu = sum(
            cpu_after.get(name, 0) - cpu_before.get(name, 0) for name in cpu_after if name != LOAD_GENERATOR
        )
        if dispatched:
            self.report.cpu_per_ticket_ms = 1000 * platform_cpu / dispatched
        await self.lifecycle_cpu(monitor)

    async def lifecycle_cpu(self, monitor: ProcessMonitor, *, rate: float = 20, seconds: float = 10) -> None:
        """CPU of the whole life of a ticket, every process and server included: escalations at `rate`
        for `seconds`, then until each is offered, accepted, resolved, closed, paid and its webhooks
        delivered; all the CPU spent meanwhile divided by the tickets."""
        from asgiref.sync import sync_to_async

        from tools.loadsim.run import wait_for

        await self.drain()
        database = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
        redis_port = urlparse(os.environ["REDIS_URL"]).port or 6379
        before = {**monitor.cpu_seconds(), **monitor.server_cpu_seconds(database=database, redis_port=redis_port)}
        stats = self.window()
        await self.stream.run(rate=rate, duration=seconds)
        ids = set(stats.ticket_ids.values())
        done = sync_to_async(_lifecycle_done, thread_sensitive=False)
        finished = await wait_for(lambda: len(stats.resolved) >= len(ids), timeout=90) and await _wait_async(
            lambda: done(ids), timeout=90
        )
        after = {**monitor.cpu_seconds(), **monitor.server_cpu_seconds(database=database, redis_port=redis_port)}
        spent = {name: after.get(name, 0) - before.get(name, 0) for name in after if name != LOAD_GENERATOR}
        if ids:
            self.report.lifecycle = {
                "tickets": len(ids),
                "finished": bool(finished),
                "cpu_ms": 1000 * sum(spent.values()) / len(ids),
                "by_process_ms": {name: 1000 * value / len(ids) for name, value in sorted(spent.items())},
            }

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Start each step with an empty queue: wait for the backlog an overloaded step left, and
        cancel what is still waiting after `timeout` (its customers gave up)."""
        from asgiref.sync import sync_to_async

        count_queued = sync_to_async(queued_count, thread_sensitive=False)
        self.window()
        deadline = time.monotonic() + timeout
        while (queued := await count_queued()) and time.monotonic() < deadline:
            await asyncio.sleep(1)
        if queued:
            await self.stream.cancel_unassigned(assigned_ticket_ids=self.pool.assigned_ticket_ids)
            self.say(f"cancelled the backlog of {queued} tickets")
            self.report.notes.append(f"{queued} queued tickets left by an overloaded step were cancelled")

    async def one_process(self, step: Step, deadline: float, monitor: ProcessMonitor) -> None:
        from tools.loadsim.stats import percentile

        connected, seconds = await self.grow_pool(step, deadline)
        on_web0 = len(self.pool.on_server(0))
        self.say(f"{on_web0} sockets on web0: {self.sizes.one_process_rate}/s for {self.sizes.one_process_seconds:g} s")
        stats = await self.measure(rate=self.sizes.one_process_rate, seconds=self.sizes.one_process_seconds)
        offers_web0 = stats.offer_latencies(server_index=0)
        self.report.one_process_rows.append(
            [
                on_web0,
                f"{seconds:.1f}" if connected else "-",
                f"{connected / seconds:.0f}" if connected and seconds else "-",
                len(offers_web0),
                ms(percentile(offers_web0, 0.99)),
                f"{monitor.rss('web0') / MIB:.0f}",
                ms(percentile(stats.loop_lag, 0.99)),
            ]
        )
        if step.total == self.sizes.one_process_sockets[-1]:
            await self.reconnect_storm()

    async def reconnect_storm(self) -> None:
        """Every socket of web0 dropped at once (as when the process restarts) and reconnected at once."""
        agents = self.pool.on_server(0)
        tokens = [agent.token for agent in agents]
        await self.pool.close(agents)
        await asyncio.sleep(1)
        self.say(f"reconnect storm: {len(tokens)} sockets to web0 at once ...")
        report = await self.pool.connect(tokens, server_index=0, deadline=time.perf_counter() + 120)
        rate = report.connected / report.seconds if report.seconds else 0
        self.report.reconnect_rows.append([len(tokens), f"{report.seconds:.1f}", f"{rate:.0f}", report.failed])
        await asyncio.sleep(2)

    async def run(self, monitor: ProcessMonitor) -> None:
        from tools.loadsim.stats import watch_loop_lag

        lag = asyncio.create_task(watch_loop_lag(lambda: self.pool.stats))
        try:
            for position, step in enumerate(self.plan):
                await self.drain()
                deadline = self.connect_deadline(self.plan[position:])
                if step.kind == "latency":
                    await self.latency(step, deadline)
                elif step.kind == "throughput":
                    await self.throughput(step, deadline, monitor)
                else:
                    await self.one_process(step, deadline, monitor)
            await self.pool.finish_work()
            await self.stream.cancel_unassigned(assigned_ticket_ids=self.pool.assigned_ticket_ids)
        finally:
            lag.cancel()
            self.say(f"closing {len(self.pool.agents)} sockets")
            await self.pool.close()
            await self.stream.close()

    def connect_deadline(self, remaining: list[Step]) -> float:
        """When this step must stop connecting agents so that the whole run stays within its budget:
        the time left after the remaining measurements is shared by the remaining connections."""
        left = RUN_BUDGET_SECONDS - AFTER_SCENARIOS_SECONDS - (time.perf_counter() - START)
        left -= sum(step.measure_seconds for step in remaining)
        connects = sum(step.connects for step in remaining)
        share = remaining[0].connects / connects if connects else 1.0
        return time.perf_counter() + max(0.0, left) * share


def _lifecycle_done(ticket_ids: set) -> bool:
    """Every ticket closed and paid, and no webhook of theirs waiting."""
    from payouts.models import TicketPay
    from tickets.models import Ticket, WebhookDelivery

    closed = Ticket.objects.filter(pk__in=ticket_ids, closed_at__isnull=False).count()
    paid = TicketPay.objects.filter(ticket_id__in=ticket_ids).count()
    waiting = WebhookDelivery.objects.filter(ticket_id__in=ticket_ids, status="pending").exists()
    return closed == len(ticket_ids) and paid == len(ticket_ids) and not waiting


async def _wait_async(condition, *, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.5)
    return False


# --- Baselines -----------------------------------------------------------------------------------

PGBENCH_SCHEMA = """
DROP SCHEMA IF EXISTS pgbench_dispatch CASCADE;
CREATE SCHEMA pgbench_dispatch;
CREATE TABLE pgbench_dispatch.agent (
    id bigserial PRIMARY KEY, has_pending_offer boolean NOT NULL DEFAULT false,
    last_offer_at timestamptz NOT NULL DEFAULT now(), offers_received integer NOT NULL DEFAULT 0);
CREATE INDEX agent_dispatchable ON pgbench_dispatch.agent (last_offer_at) WHERE NOT has_pending_offer;
CREATE TABLE pgbench_dispatch.ticket (
    id bigserial PRIMARY KEY, status text NOT NULL, agent_id bigint, created_at timestamptz NOT NULL);
CREATE TABLE pgbench_dispatch.offer (
    id bigserial PRIMARY KEY, ticket_id bigint NOT NULL REFERENCES pgbench_dispatch.ticket,
    agent_id bigint NOT NULL REFERENCES pgbench_dispatch.agent, status text NOT NULL,
    created_at timestamptz NOT NULL);
INSERT INTO pgbench_dispatch.agent (last_offer_at)
    SELECT now() - random() * interval '1 hour' FROM generate_series(1, 10000);
ANALYZE;
"""

# Insert a ticket, pick and lock the agent waiting longest, insert an offer, update both.
PGBENCH_SCRIPT = """
BEGIN;
INSERT INTO pgbench_dispatch.ticket (status, created_at) VALUES ('queued', now()) RETURNING id AS ticket_id \\gset
SELECT id AS agent_id FROM pgbench_dispatch.agent WHERE NOT has_pending_offer
    ORDER BY last_offer_at LIMIT 1 FOR UPDATE SKIP LOCKED \\gset
INSERT INTO pgbench_dispatch.offer (ticket_id, agent_id, status, created_at)
    VALUES (:ticket_id, :agent_id, 'pending', now());
UPDATE pgbench_dispatch.agent SET last_offer_at = now(), offers_received = offers_received + 1 WHERE id = :agent_id;
UPDATE pgbench_dispatch.ticket SET status = 'offered', agent_id = :agent_id WHERE id = :ticket_id;
COMMIT;
"""


def pgbench_args(database_url: str) -> tuple[list[str], dict]:
    parts = urlparse(database_url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
    return [*args, parts.path.lstrip("/")], env


def parse_pgbench_tps(output: str) -> float | None:
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output) or re.search(
        r"tps = ([\d.]+)", output
    )
    return float(match.group(1)) if match else None


def parse_redis_benchmark(output: str) -> float | None:
    rates = re.findall(r"([\d.]+) requests per second", output.replace("\r", "\n"))
    return float(rates[-1]) if rates else None


def pgbench_run(database_url: str, seconds: int) -> tuple[float | None, str]:
    connection_args, env = pgbench_args(database_url)
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", *connection_args],
        input=PGBENCH_SCHEMA,
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    try:
        result = subprocess.run(
            ["pgbench", "-n", "-c", "4", "-j", "2", "-T", str(seconds), "-f", script.name, *connection_args],
            env=env,
            text=True,
            capture_output=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    return parse_pgbench_tps(result.stdout), result.stdout + result.stderr


def redis_publish_run(redis_url: str) -> tuple[float | None, str]:
    parts = urlparse(redis_url)
    args = ["redis-benchmark", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379), "-n", "100000", "-q"]
    if parts.password:
        args += ["-a", parts.password]
    result = subprocess.run(
        [*args, "PUBLISH", "bench-channel", "an offer frame"], text=True, capture_output=True, timeout=120
    )
    return parse_redis_benchmark(result.stdout), result.stdout + result.stderr


# --- Main ----------------------------------------------------------------------------------------

START = time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--out", default=None, help="markdown file (default var/bench-<date>.md)")
    parser.add_argument(
        "--latency-rate", type=float, default=None, help="escalations per second in scenarios a and c (default 20)"
    )
    options = parser.parse_args()
    only = {name.strip() for name in options.only.split(",") if name.strip()}
    if unknown := only - set(SCENARIOS):
        parser.error(f"--only: unknown scenario {', '.join(sorted(unknown))}")
    sizes = QUICK if options.quick else FULL
    if options.latency_rate:
        sizes = dataclasses.replace(sizes, latency_rate=options.latency_rate, one_process_rate=options.latency_rate)

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    report = Report()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    say = lambda line: print(f"[{time.perf_counter() - START:6.1f}s] {line}", flush=True)  # noqa: E731

    say(f"database {urlparse(database_url).path.lstrip('/')}, redis {redis_url}; logs in {log_dir}")
    database_recreate(database_url)
    django_setup(database_url, redis_url)
    import redis
    from django.core.management import call_command

    from tools.loadsim.population import sim_population_ensure
    from tools.loadsim.stats import SimStats
    from tools.loadsim.webhooks import WebhookReceiver

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(redis_url).flushdb()
    command = " ".join(["scripts/bench.py", *sys.argv[1:]]) if sys.argv[1:] else "make bench"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True).stdout
    report.context = [
        f"- machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB, {platform.platform()}, "
        f"load average at start {', '.join(f'{v:.1f}' for v in os.getloadavg())}",
        f"- code: commit {commit.strip() or '?'}; command: `{command}`",
        "- platform: the Procfile's processes (web twice, on two ports; worker with 2 prefork processes; beat; "
        "the dispatcher); PostgreSQL and Redis; DEBUG=false",
        "- load: this script, on the same machine: agents over real websockets (ping every 20 s like the "
        "console), escalations as a Poisson stream through POST /api/v1/tickets/, webhooks to a local receiver",
    ]

    agents_needed = sum(step.connects for step in scenario_plan(sizes, only))
    receiver = WebhookReceiver(stats=SimStats()).start()
    population = None
    if only - {"baselines", "engine"}:
        say(f"creating {agents_needed} synthetic agents ...")
        population = sim_population_ensure(
            agents=agents_needed,
            languages=[("en", 1.0)],
            skills=["payments", "refunds", "disputes", "account"],
            webhook_url=receiver.url,
            max_concurrent=3,
        )
        receiver.secret = population.webhook_secret

    platform_ = Platform(env=platform_env(database_url, redis_url), log_dir=log_dir)
    monitor = None
    try:
        if population is not None:
            say(f"starting the Procfile's processes: {platform_.names()} ...")
            platform_.start()
            monitor = ProcessMonitor(
                {**{p.name: p.process.pid for p in platform_.processes}, LOAD_GENERATOR: os.getpid()}
            ).start()
            cpu_at_start = monitor.cpu_seconds()
            bench = Bench(
                sizes=sizes, only=only, report=report, platform_=platform_, population=population, receiver=receiver
            )
            asyncio.run(bench.run(monitor))
            cpu_at_end = monitor.cpu_seconds()
            for name in sorted(cpu_at_end):
                report.process_rows.append(
                    [
                        name,
                        f"{cpu_at_end[name] - cpu_at_start.get(name, 0):.1f}",
                        f"{monitor.peak_rss.get(name, 0) / MIB:.0f}",
                    ]
                )
    finally:
        if monitor is not None:
            monitor.stop()
        platform_.stop()
        receiver.stop()

    if "engine" in only:
        from tools.enginebench import engine_alone

        report.engine = engine_alone(queue=sizes.engine_queue, pool=sizes.engine_pool, say=say)

    if "baselines" in only:
        say("baselines: pgbench (minimal dispatch transaction), redis-benchmark PUBLISH ...")
        if shutil.which("pgbench"):
            report.pgbench_tps, output = pgbench_run(database_url, sizes.pgbench_seconds)
            if report.pgbench_tps is None:
                report.notes.append(f"pgbench gave no tps: {output.strip()[-300:]}")
        else:
            report.notes.append("pgbench is not installed")
        if shutil.which("redis-benchmark"):
            report.publish_per_second, output = redis_publish_run(redis_url)
            if report.publish_per_second is None:
                report.notes.append(f"redis-benchmark gave no rate: {output.strip()[-300:]}")
        else:
            report.notes.append("redis-benchmark is not installed")

    report.notes.append(f"whole run {time.perf_counter() - START:.0f} s; process logs in {log_dir}")
    markdown = report.markdown()
    out = Path(options.out) if options.out else ROOT / "var" / f"bench-{report.started:%Y-%m-%d-%H%M}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(markdown)
    print()
    print(markdown)
    print(f"(written to {out})")
    return 0


def _memory_gib() -> float:
    import psutil

    return psutil.virtual_memory().total / 1024**3


if __name__ == "__main__":
    sys.exit(main())
