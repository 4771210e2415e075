"""What the simulated bot, agents and webhook receiver observed, and how to summarise it."""

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1); NaN when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def milliseconds(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


@dataclass
class SimStats:
    """Counters and latency samples of one window (a whole simulation, or one benchmark step).

    Mutated from the asyncio loop only, except the webhook counters, which the receiver's thread
    updates under `webhook_lock`.
    """

    started_at: float = field(default_factory=time.perf_counter)
    sent_at: dict[str, float] = field(default_factory=dict)  # external_id -> intake request sent
    ticket_ids: dict[str, str] = field(default_factory=dict)  # external_id -> ticket id (from the 201)
    intake_failures: Counter = field(default_factory=Counter)  # HTTP status (0: no answer) -> count
    offered: set[str] = field(default_factory=set)  # external_ids with at least one offer received
    # Intake request sent -> first offer frame received, by the index of the server the agent is on.
    offer_latency: dict[int, list[float]] = field(default_factory=dict)
    offers_received: int = 0
    accept_latency: list[float] = field(default_factory=list)  # accept sent -> `assigned` received
    assigned: set[str] = field(default_factory=set)  # ticket ids
    resolved: set[str] = field(default_factory=set)
    resolve_failures: Counter = field(default_factory=Counter)
    declined: int = 0
    ignored: int = 0
    withdrawn: Counter = field(default_factory=Counter)  # reason -> count
    errors: Counter = field(default_factory=Counter)  # error frame code -> count
    foreign_offers: int = 0  # offers for tickets not sent in this window (earlier windows, other bots)
    cancelled: int = 0
    conversations: Counter = field(default_factory=Counter)  # outcome -> conversations the bot reported
    conversation_failures: Counter = field(default_factory=Counter)  # HTTP status -> count
    rated: int = 0  # escalations the customers rated (CSAT)
    # How late the simulator's own event loop woke up: if this grows, the simulator, not the platform,
    # is what delays frames, and the latencies above overstate.
    loop_lag: list[float] = field(default_factory=list)
    webhook_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    webhooks: Counter = field(default_factory=Counter)  # event -> count of first deliveries
    webhook_duplicates: int = 0
    webhooks_for_earlier_tickets: int = 0  # e.g. retries of deliveries a previous run did not answer
    webhook_bad_signatures: int = 0
    webhook_delivery_ids: set[str] = field(default_factory=set)

    def offer_received(self, *, external_id: str, server_index: int) -> None:
        self.offers_received += 1
        sent_at = self.sent_at.get(external_id)
        if sent_at is None:
            self.foreign_offers += 1
            return
        if external_id not in self.offered:
            self.offered.add(external_id)
            self.offer_latency.setdefault(server_index, []).append(time.perf_counter() - sent_at)

    def webhook_received(self, *, delivery_id: str, event: str, external_id: str, signature_ok: bool) -> None:
        with self.webhook_lock:
            if not signature_ok:
                self.webhook_bad_signatures += 1
            elif delivery_id in self.webhook_delivery_ids:
                self.webhook_duplicates += 1
            elif external_id not in self.sent_at:
                self.webhook_delivery_ids.add(delivery_id)
                self.webhooks_for_earlier_tickets += 1
            else:
                self.webhook_delivery_ids.add(delivery_id)
                self.webhooks[event] += 1

    def offer_latencies(self, server_index: int | None = None) -> list[float]:
        if server_index is not None:
            return list(self.offer_latency.get(server_index, []))
        return [value for values in self.offer_latency.values() for value in values]

    @property
    def sent(self) -> int:
        return len(self.ticket_ids)

    @property
    def not_yet_offered(self) -> int:
        return sum(1 for external_id in self.ticket_ids if external_id not in self.offered)

    def progress_line(self) -> str:
        elapsed = time.perf_counter() - self.started_at
        offer = self.offer_latencies()
        return (
            f"[{elapsed:6.1f}s] sent {self.sent} ({self.sent / max(elapsed, 1e-9):.1f}/s) "
            f"offered {len(self.offered)} assigned {len(self.assigned)} resolved {len(self.resolved)} "
            f"waiting {self.not_yet_offered} | offer p50 {milliseconds(percentile(offer, 0.5))} "
            f"p99 {milliseconds(percentile(offer, 0.99))} | declined {self.declined} "
            f"expired {self.withdrawn['expired']} | webhooks {sum(self.webhooks.values())}"
        )

    def summary_lines(self) -> list[str]:
        offer = self.offer_latencies()
        rows = [
            ("intake sent -> offer frame", offer),
            ("accept sent -> assigned", self.accept_latency),
        ]
        lines = [
            f"tickets sent {self.sent}, offered {len(self.offered)}, assigned {len(self.assigned)}, "
            f"resolved {len(self.resolved)}, cancelled at the end {self.cancelled}",
            f"{'latency':28}{'p50':>10}{'p95':>10}{'p99':>10}{'n':>8}",
        ]
        for label, values in rows:
            lines.append(
                f"{label:28}{milliseconds(percentile(values, 0.5)):>10}{milliseconds(percentile(values, 0.95)):>10}"
                f"{milliseconds(percentile(values, 0.99)):>10}{len(values):>8}"
            )
        if self.conversations:
            reported = sum(self.conversations.values())
            lines.append(
                f"conversations reported {reported}: contained {self.conversations['contained']}, "
                f"escalated {self.conversations['escalated']}, abandoned {self.conversations['abandoned']} "
                f"(containment {self.conversations['contained'] / reported:.0%}); escalations rated {self.rated}"
            )
        lines.append(
            f"offers received {self.offers_received}, declined {self.declined}, ignored {self.ignored}, "
            f"expired {self.withdrawn['expired']}, taken {self.withdrawn['taken']}, "
            f"cancelled {self.withdrawn['cancelled']}, for earlier tickets {self.foreign_offers}"
        )
        with self.webhook_lock:
            events = ", ".join(f"{event} {count}" for event, count in sorted(self.webhooks.items())) or "none"
            lines.append(
                f"webhooks received {sum(self.webhooks.values())} ({events}), duplicates {self.webhook_duplicates}, "
                f"bad signatures {self.webhook_bad_signatures}, for earlier tickets {self.webhooks_for_earlier_tickets}"
            )
        if self.loop_lag:
            lines.append(
                f"simulator loop lag p99 {milliseconds(percentile(self.loop_lag, 0.99))}, "
                f"max {milliseconds(max(self.loop_lag))}"
            )
        problems = []
        if self.intake_failures:
            problems.append(f"intake failures {dict(self.intake_failures)}")
            if 429 in self.intake_failures:
                problems.append(
                    "429: the platform's intake limit per integration (RATE_LIMIT_INTAKE, default 600/min) "
                    "refused them; start it with a higher limit for this rate"
                )
        if self.conversation_failures:
            problems.append(f"conversation report failures {dict(self.conversation_failures)}")
        if self.resolve_failures:
            problems.append(f"resolve failures {dict(self.resolve_failures)}")
        if self.errors:
            problems.append(f"error frames {dict(self.errors)}")
        if problems:
            lines.append("; ".join(problems))
        return lines


async def watch_loop_lag(current_stats, *, interval: float = 0.05) -> None:
    """Record into `current_stats()` how much later than asked each short sleep of the loop ends."""
    import asyncio

    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval)
        current_stats().loop_lag.append(max(0.0, time.perf_counter() - started - interval))
