"""The load simulator against the live stack: a handful of agents, a few seconds of escalations."""

import asyncio
import io
import json

import httpx
import pytest
from django.core.management import call_command

from agents.models import Agent
from tickets.models import Ticket, TicketStatus, WebhookDelivery
from tickets.webhooks import signature_for
from tools.loadsim.agents import AgentBehaviour
from tools.loadsim.population import sim_population_ensure
from tools.loadsim.run import SimConfig, simulate
from tools.loadsim.stats import SimStats, percentile
from tools.loadsim.webhooks import WebhookReceiver

QUICK = AgentBehaviour(think_seconds=(0.05, 0.2), handle_seconds=(0.2, 0.6), decline_share=0.0, ignore_share=0.0)


@pytest.fixture
def receiver():
    receiver = WebhookReceiver(stats=SimStats()).start()
    yield receiver
    receiver.stop()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_simulated_agents_are_offered_accept_and_resolve_and_the_webhooks_arrive_signed(live_stack, receiver):
    config = SimConfig(
        agents=4,
        rate=3,
        duration_seconds=4,
        behaviour=QUICK,
        languages=(("en", 1.0),),
        skills=("payments",),
        seed=7,
        report_every_seconds=1,
        drain_seconds=30,
    )
    population = sim_population_ensure(
        agents=config.agents, languages=list(config.languages), skills=list(config.skills), webhook_url=receiver.url
    )
    receiver.secret = population.webhook_secret
    lines = []

    stats = asyncio.run(
        simulate(
            config=config, population=population, api_urls=[live_stack.base_url], receiver=receiver, say=lines.append
        )
    )

    assert stats.sent >= 2, lines  # a Poisson stream of 3/s for 4 s sends none or one only by a fluke
    sent_ids = set(stats.ticket_ids.values())
    assert set(stats.offered) == set(stats.ticket_ids)
    assert stats.assigned == sent_ids
    assert stats.resolved == sent_ids
    assert len(stats.offer_latencies()) == stats.sent
    assert len(stats.accept_latency) == stats.sent
    statuses = set(Ticket.objects.filter(pk__in=sent_ids).values_list("status", flat=True))
    assert statuses == {TicketStatus.RESOLVED}
    assert stats.webhooks["ticket.assigned"] == stats.sent
    assert stats.webhooks["ticket.resolved"] == stats.sent
    assert stats.webhook_bad_signatures == 0
    assert WebhookDelivery.objects.filter(ticket_id__in=sent_ids, status="delivered").count() == 2 * stats.sent
    assert any("agents online" in line for line in lines)
    assert any(line.startswith("[") and "offered" in line for line in lines)  # progress lines
    # Nothing is left open for the next run.
    assert not Agent.objects.filter(user__username__startswith="sim-agent-", active_tickets__gt=0).exists()


def test_the_receiver_refuses_a_forged_webhook_and_counts_a_redelivery_once(receiver):
    receiver.secret = "the-real-secret"
    receiver.stats.sent_at["chat-1"] = 0.0
    body = json.dumps(
        {"event": "ticket.resolved", "delivery_id": "d-1", "ticket": {"id": "t", "external_id": "chat-1"}}
    ).encode()

    def deliver(signature: str) -> int:
        return httpx.post(
            receiver.url,
            content=body,
            headers={
                "X-Dispatch-Event": "ticket.resolved",
                "X-Dispatch-Delivery": "d-1",
                "X-Dispatch-Signature": signature,
            },
        ).status_code

    assert deliver(signature_for(body, "the-real-secret")) == 204
    assert deliver(signature_for(body, "the-real-secret")) == 204
    assert deliver(signature_for(body, "a-guessed-secret")) == 400
    assert receiver.stats.webhooks == {"ticket.resolved": 1}
    assert receiver.stats.webhook_duplicates == 1
    assert receiver.stats.webhook_bad_signatures == 1


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_simulate_command_prints_progress_and_a_summary(live_stack):
    out = io.StringIO()
    call_command(
        "simulate",
        agents=2,
        rate=2,
        duration=3,
        url=live_stack.base_url,
        think="0.05-0.1",
        handle="0.1-0.3",
        decline_share=0,
        ignore_share=0,
        languages="en",
        skills="",
        report_every=1,
        drain=20,
        stdout=out,
    )
    text = out.getvalue()
    assert "2 agents online" in text
    assert "intake sent -> offer frame" in text
    assert "accept sent -> assigned" in text
    assert "webhooks received" in text
    assert "bad signatures 0" in text


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (50.0, 95.0, 99.0)
    assert percentile([3.0], 0.99) == 3.0


def load_bench_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("bench_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_plan_connects_ten_thousand_agents_once_and_fills_one_process_to_five_thousand():
    bench = load_bench_script()
    plan = bench.scenario_plan(bench.FULL, set(bench.SCENARIOS))

    assert [(step.kind, step.total) for step in plan] == [
        ("latency", 100),
        ("latency", 1000),
        ("throughput", 1000),
        ("sockets", 1000),
        ("sockets", 2500),
        ("sockets", 5000),
        ("latency", 10000),
    ]
    assert sum(step.connects for step in plan) == 10000
    assert [step.server_index for step in plan if step.kind == "sockets"] == [0, 0, 0]
    only_sockets = bench.scenario_plan(bench.FULL, {"sockets"})
    assert sum(step.connects for step in only_sockets) == 5000


def test_a_throughput_step_keeps_up_only_with_a_stable_queue_and_offers_within_a_second():
    bench = load_bench_script()
    keeps_up = bench.throughput_step_keeps_up

    assert keeps_up(rate=50, queued_at_start=3, queued_at_end=40, offer_p99=0.2)
    assert not keeps_up(rate=50, queued_at_start=3, queued_at_end=60, offer_p99=0.2)
    assert not keeps_up(rate=50, queued_at_start=0, queued_at_end=0, offer_p99=1.5)
    assert not keeps_up(rate=50, queued_at_start=0, queued_at_end=0, offer_p99=float("nan"))


def test_the_baseline_tools_output_is_parsed():
    bench = load_bench_script()
    pgbench = "number of transactions actually processed: 8041\nlatency average = 4.9 ms\n"
    pgbench += "initial connection time = 6.1 ms\ntps = 804.123456 (without initial connection time)\n"
    redis_output = (
        "PUBLISH bench-channel an offer frame: rps=0.0 (overall: 0.0) avg_msec=-nan (overall: -nan)\r"
        "PUBLISH bench-channel an offer frame: 57142.86 requests per second, p50=0.495 msec\n"
    )

    assert bench.parse_pgbench_tps(pgbench) == 804.123456
    assert bench.parse_redis_benchmark(redis_output) == 57142.86
    assert bench.parse_pgbench_tps("connection to server failed") is None


def test_the_report_renders_each_measured_section_and_our_share_of_pgbench():
    bench = load_bench_script()
    report = bench.Report(context=["- machine: test"])
    report.latency_rows.append([100, 400, "12.0", "30.0", "45.0", "8.0", "15.0", "20.0", 0, "1.5"])
    report.throughput_rows.append(["100", "99.0", "98.0", 0, 3, "20.0", "90.0", "yes", "2.0"])
    report.sustained_rate = 98.0
    report.pgbench_tps = 980.0
    report.publish_per_second = 57142.86

    markdown = report.markdown()

    assert "| 100 | 400 | 12.0 | 30.0 | 45.0 | 8.0 | 15.0 | 20.0 | 0 | 1.5 |" in markdown
    assert "Sustained with the queue stable: **98.0/s**" in markdown
    assert "| 980 | 57,143 | 10.0 % |" in markdown
    assert "## c." not in markdown  # not measured, not shown
