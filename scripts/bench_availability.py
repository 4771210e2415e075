"""What GET /api/v1/availability/ costs: requests per second through the whole Django stack (middleware,
token authentication, the view and its queries), in one process, with a pool of online agents and a queue.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dispatch_bench_availability REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python scripts/bench_availability.py --agents 1000 --queued 200 --requests 2000

It migrates the database it is given and replaces its agents and tickets: use a database of its own.
One process on one core; a deployment runs one web process per core (see docs/benchmarks.md).
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import bench_decision  # noqa: E402  (sets up Django; its pool_register is the set-up used here)
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--queued", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--no-reuse", action="store_true", help="read every answer afresh (no 2 s reuse)")
    args = parser.parse_args()
    if args.no_reuse:
        from dispatch import availability

        availability.FRESH_SECONDS = 0.0

    from agents.services import integration_create
    from tickets.models import Ticket

    call_command("migrate", verbosity=0)
    rng = random.Random(18)
    bench_decision.pool_register(args.agents, rng)
    integration, token = integration_create(name=f"bench-availability-{time.time_ns()}", webhook_url="")
    now = timezone.now()
    Ticket.objects.bulk_create(
        [
            Ticket(
                integration=integration,
                external_id=f"queued-{n}",
                customer_ref=f"c-{n}",
                language=rng.choice(bench_decision.LANGUAGES),
                reason="customer_request",
                priority=1,
                created_at=now,
                queued_at=now,
            )
            for n in range(args.queued)
        ]
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    queries = [
        {"language": rng.choice(bench_decision.LANGUAGES), "skills": rng.choice(bench_decision.SKILLS)}
        for _ in range(args.requests)
    ]
    for query in queries[:50]:  # warm-up: connections, caches
        warm = client.get("/api/v1/availability/", query, secure=True)
        assert warm.status_code == 200, (warm.status_code, warm.content[:300])
    timings = []
    started = time.perf_counter()
    for query in queries:
        t0 = time.perf_counter()
        response = client.get("/api/v1/availability/", query, secure=True)
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.content
    elapsed = time.perf_counter() - started
    print(
        f"agents online: {args.agents}, queued tickets: {args.queued}, requests: {args.requests}, "
        f"answers {'read afresh every time' if args.no_reuse else 'reused for 2 s'}"
    )
    print(f"requests/s (one process): {args.requests / elapsed:.0f}")
    print(
        f"latency ms: p50 {statistics.median(timings):.2f}, "
        f"p95 {bench_decision.percentile(timings, 0.95):.2f}, p99 {bench_decision.percentile(timings, 0.99):.2f}"
    )


if __name__ == "__main__":
    main()
