"""Time from escalation to offer: how long after the bot's POST /api/v1/tickets/ is sent does the
offer frame arrive on an agent's websocket, and how long from accept sent to `assigned` received.

Starts its own stack (uvicorn, Celery worker and beat, production settings) on the database named by
DATABASE_URL (default: a `dispatch_bench` PostgreSQL database on 127.0.0.1, recreated), connects
--agents real websocket clients, posts --tickets escalations at --rate per second, and prints
percentiles. Run it from the repository root:

    .venv/bin/python scripts/bench_dispatch.py --agents 500 --tickets 300 --rate 20
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def prepare_database(database_url: str, agents: int) -> tuple[list[str], str]:
    """Migrate, create `agents` online-capable agents and an integration; returns (agent tokens, bot token)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from agents.models import Agent, AgentLanguage, User
    from agents.services import integration_create, person_token_issue
    from dispatch.policy import policy_current

    policy_current()
    group, _ = Group.objects.get_or_create(name="agent")
    password = make_password("bench")
    run = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create(
        [User(username=f"bench-{run}-{i}", password=password) for i in range(agents)], batch_size=1000
    )
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=u.pk, group_id=group.pk) for u in users], batch_size=1000
    )
    created = Agent.objects.bulk_create(
        [Agent(user=u, display_name=f"Bench {i}", max_concurrent=10) for i, u in enumerate(users)], batch_size=1000
    )
    AgentLanguage.objects.bulk_create([AgentLanguage(agent=a, code="en") for a in created], batch_size=1000)
    tokens = [person_token_issue(user=u) for u in users]
    _, bot_token = integration_create(name=f"bench-bot-{run}")
    return tokens, bot_token


async def run_agents(ws_url: str, tokens: list[str], offer_seen: dict, assigned_latency: list, ready: asyncio.Event):
    import websockets

    connected = 0
    finished = 0

    async def agent(token: str):
        nonlocal connected
        async with websockets.connect(
            ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=60, max_queue=None
        ) as ws:
            await ws.send(json.dumps({"type": "presence", "status": "online"}))
            connected += 1
            if connected + finished == len(tokens):
                ready.set()
            accepted_at: dict[str, float] = {}
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "offer":
                    offer_seen.setdefault(frame["ticket"]["external_id"], time.perf_counter())
                    await ws.send(json.dumps({"type": "ack", "offer_id": frame["offer_id"]}))
                    accepted_at[frame["offer_id"]] = time.perf_counter()
                    await ws.send(json.dumps({"type": "accept", "offer_id": frame["offer_id"]}))
                elif frame["type"] == "assigned" and frame["offer_id"] in accepted_at:
                    assigned_latency.append(time.perf_counter() - accepted_at.pop(frame["offer_id"]))

    async def guarded(token: str):
        nonlocal finished
        try:
            await agent(token)
        except Exception as exc:  # noqa: BLE001 - reported, and the run goes on with those connected
            failures.append(repr(exc))
            finished += 1
            if connected + finished == len(tokens):
                ready.set()

    failures = run_agents.failures
    await asyncio.gather(*(guarded(t) for t in tokens))


intake_latency: list[float] = []


async def post_tickets(base_url: str, bot_token: str, count: int, rate: float, sent_at: dict):
    import httpx

    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {bot_token}"}) as client:

        async def post(i: int):
            external_id = f"bench-{uuid.uuid4().hex}"
            body = {
                "external_id": external_id,
                "customer": {"ref": f"c-{i}", "display_name": "Bench", "tier": "standard", "vulnerable": False},
                "language": "en",
                "skills": [],
                "reason": "customer_request",
                "priority": 1,
                "summary": "Benchmark escalation",
                "transcript": [{"role": "customer", "text": "I want a person", "at": "2026-11-21T10:00:00+00:00"}],
            }
            sent_at[external_id] = time.perf_counter()
            response = await client.post("/api/v1/tickets/", json=body, timeout=30)
            response.raise_for_status()
            intake_latency.append(time.perf_counter() - sent_at[external_id])

        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(post(i)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)


async def measure(stack, tokens, bot_token, tickets: int, rate: float):
    run_agents.failures = []
    offer_seen: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    assigned_latency: list[float] = []
    ready = asyncio.Event()
    agents_task = asyncio.create_task(run_agents(stack.ws_url(0), tokens, offer_seen, assigned_latency, ready))
    await asyncio.wait_for(ready.wait(), 300)
    # Measure the steady state: wait until every agent's "online" has been processed by the servers.
    from asgiref.sync import sync_to_async

    from agents.models import Agent

    online = sync_to_async(lambda: Agent.objects.filter(presence="online", open_sockets__gt=0).count())
    deadline = time.monotonic() + 300
    while await online() < len(tokens) - len(run_agents.failures) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)
    await post_tickets(stack.base_url, bot_token, tickets, rate, sent_at)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([k for k in sent_at if k in offer_seen]) < len(sent_at):
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)
    agents_task.cancel()
    latencies = [offer_seen[k] - sent_at[k] for k in sent_at if k in offer_seen]
    return latencies, assigned_latency, len(sent_at) - len(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20, help="escalations per second")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dispatch_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("FAST_PASSWORD_HASHER", "true")
    tokens, bot_token = prepare_database(database_url, args.agents)

    from tests.live import LiveStack

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    stack = LiveStack(env=env, log_dir=Path(tempfile.mkdtemp(prefix="bench-dispatch-")), web_workers=args.web_workers)
    try:
        stack.add_web()
        stack.start_worker()
        stack.start_beat()
        started = time.perf_counter()
        latencies, assigned, missing = asyncio.run(measure(stack, tokens, bot_token, args.tickets, args.rate))
        elapsed = time.perf_counter() - started
    finally:
        stack.stop()

    ms = [v * 1000 for v in latencies]
    assigned_ms = [v * 1000 for v in assigned]
    print(
        f"\ndispatch latency at {args.agents} online agents, {args.tickets} escalations at {args.rate}/s "
        f"({args.web_workers} uvicorn workers, 1 Celery worker with 2 processes, PostgreSQL + Redis)"
    )
    print(f"{'':32}{'median':>10}{'p95':>10}{'p99':>10}{'max':>10}   n")
    rows = (
        ("intake request -> 201 (ms)", [v * 1000 for v in intake_latency]),
        ("intake sent -> offer frame (ms)", ms),
        ("accept sent -> assigned (ms)", assigned_ms),
    )
    for label, values in rows:
        if values:
            print(
                f"{label:32}{statistics.median(values):10.1f}{percentile(values, 0.95):10.1f}"
                f"{percentile(values, 0.99):10.1f}{max(values):10.1f}   {len(values)}"
            )
    print(f"tickets without an offer: {missing}; run took {elapsed:.1f}s; logs in {stack.log_dir}")
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
