"""The platform's Prometheus metrics, recorded by the services and the engine, read at GET /metrics (ops.metrics).

Every process of a deployment (web processes, workers, the dispatcher, beat) records into files under
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode), so one scrape of any web process on a
host adds up the whole host. Without the variable (a shell, a unit test) the numbers live in the process.

Counters are counted after commit (`count_on_commit`): a rolled-back offer was never made. The gauges
that describe the database's state (queue length, agents by presence) are not recorded here: the
scrape reads them from the database (ops.metrics), so every process reports the same truth.
"""

import time
from contextlib import contextmanager
from datetime import datetime

from celery import signals
from django.db import transaction
from prometheus_client import Counter, Gauge, Histogram

from config.celery import PUBLISHED_AT_HEADER

OFFER_OUTCOMES = ("offered", "accepted", "declined", "expired", "withdrawn")

offers_total = Counter(
    "dispatch_offers",
    "Offers by outcome: offered when made, then accepted, declined, expired or withdrawn.",
    ["outcome"],
)
intake_to_offer_seconds = Histogram(
    "dispatch_intake_to_offer_seconds",
    "From a ticket's intake to its first offer.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
offer_answer_seconds = Histogram(
    "dispatch_offer_answer_seconds",
    "From an offer being made to the agent's answer (accept or decline).",
    ["outcome"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60),
)
websocket_connections = Gauge(
    "dispatch_websocket_connections",
    "Websockets open now, by kind (agent, supervisor).",
    ["kind"],
    multiprocess_mode="livesum",
)
webhook_deliveries_total = Counter(
    "dispatch_webhook_deliveries",
    "Webhook POSTs to the bot platform by outcome: delivered, failed (retried later) or gave_up.",
    ["outcome"],
)
engine_pass_tickets = Histogram(
    "dispatch_engine_pass_tickets",
    "Queued tickets looked at by one engine pass.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 200, 500),
)
engine_pass_offers = Histogram(
    "dispatch_engine_pass_offers",
    "Offers made by one engine pass.",
    buckets=(0, 1, 2, 5, 10, 25, 50, 100, 200, 500),
)
engine_pass_seconds = Histogram(
    "dispatch_engine_pass_seconds",
    "Duration of one engine pass (its transaction, decisions included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
sweep_repairs_total = Counter(
    "dispatch_sweep_repairs",
    "What the periodic sweeps repaired: a lost task's work, by kind.",
    ["kind"],
)
pay_lines_written_total = Counter(
    "dispatch_pay_lines_written",
    "Lines written to the ledger, by kind.",
    ["kind"],
)
task_lag_seconds = Histogram(
    "dispatch_task_lag_seconds",
    "From a task being due (published, or its countdown over) to a worker starting it, by queue.",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
http_request_seconds = Histogram(
    "dispatch_http_request_seconds",
    "HTTP requests by method and status class (2xx, 4xx, ...).",
    ["method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# Every known label value from the start, so a dashboard's series exist (at 0) before the first event.
for _outcome in OFFER_OUTCOMES:
    offers_total.labels(outcome=_outcome)
for _outcome in ("delivered", "failed", "gave_up"):
    webhook_deliveries_total.labels(outcome=_outcome)
for _kind in ("agent", "supervisor"):
    websocket_connections.labels(kind=_kind)


def count_on_commit(counter, amount: float = 1, **labels) -> None:
    """Add `amount` to `counter` once the current transaction commits (at once outside one)."""
    if amount <= 0:
        return
    metric = counter.labels(**labels) if labels else counter
    transaction.on_commit(lambda: metric.inc(amount), robust=True)


def observe_on_commit(histogram, values, **labels) -> None:
    metric = histogram.labels(**labels) if labels else histogram
    values = list(values)
    if values:
        transaction.on_commit(lambda: [metric.observe(value) for value in values], robust=True)


@contextmanager
def timed(histogram, **labels):
    started = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(**labels) if labels else histogram).observe(time.perf_counter() - started)


def pay_lines_count_on_commit(kinds) -> None:
    """Count ledger lines (by their kind) once the transaction that wrote them commits."""
    for kind in kinds:
        count_on_commit(pay_lines_written_total, kind=str(kind))


# --- Task lag: config.celery stamps each task when published (beat's too); a worker reads it on start ---


@signals.task_prerun.connect(weak=False)
def _task_lag_observe(task=None, **_):
    request = getattr(task, "request", None)
    published_at = getattr(request, PUBLISHED_AT_HEADER, None)
    if request is None or getattr(request, "is_eager", False) or not isinstance(published_at, int | float):
        return
    due = published_at
    if request.eta:  # a countdown: the lag counts from when it was due, not from when it was sent
        try:
            due = max(due, datetime.fromisoformat(str(request.eta)).timestamp())
        except ValueError:
            pass
    queue = (request.delivery_info or {}).get("routing_key") or "celery"
    task_lag_seconds.labels(queue=queue).observe(max(0.0, time.time() - due))
