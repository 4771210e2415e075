"""What one dispatch decision costs, in-process, as the online pool grows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dispatch_decision REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python scripts/bench_decision.py --pools 100,1000,10000 --decisions 200 [--profile]

For each pool size it registers that many agents as online (languages de/en/sv, two to four skills
each), escalates tickets through the intake service and times `dispatch.services.ticket_dispatch` on
each, including the commit and the offer push to the channel layer (the work a Celery worker does per
ticket, minus the broker). Between decisions the offered agent is freed again, so the pool stays the
same size. Prints median/p95/p99 milliseconds and SQL queries per decision; `--profile` adds the
cProfile top functions for the largest pool.

It wipes the agents, tickets and offers of the database it is given: use a database of its own.
"""

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

LANGUAGES = ["de", "en", "sv"]
SKILLS = ["payments", "refunds", "disputes", "fraud", "account"]


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def pool_register(size: int, rng: random.Random) -> None:
    """Replace every agent with `size` online ones (bulk inserts: this is set-up, not the measurement)."""
    from django.contrib.auth.models import Group

    from agents.models import Agent, AgentLanguage, AgentSkill, Skill, User
    from dispatch.models import Offer
    from payouts.models import PayLine
    from tickets.models import Ticket

    with connection.cursor() as cursor:
        for model in (PayLine, Offer, Ticket):
            cursor.execute(f'TRUNCATE "{model._meta.db_table}" CASCADE')
    AgentSkill.objects.all().delete()
    AgentLanguage.objects.all().delete()
    Agent.objects.all().delete()
    User.objects.filter(username__startswith="bench-").delete()
    skills = {code: Skill.objects.get_or_create(code=code, defaults={"name": code.title()})[0] for code in SKILLS}
    group, _ = Group.objects.get_or_create(name="agent")
    now = timezone.now()
    users = User.objects.bulk_create([User(username=f"bench-{i:05d}") for i in range(size)], batch_size=2000)
    group.user_set.add(*users)
    agents = Agent.objects.bulk_create(
        [
            Agent(
                user=user,
                display_name=user.username,
                max_concurrent=2,
                presence=Agent.Presence.ONLINE,
                presence_changed_at=now,
                open_sockets=1,
                csat_sum=rng.randint(0, 40),
                csat_count=rng.randint(0, 10),
            )
            for user in users
        ],
        batch_size=2000,
    )
    languages, agent_skills = [], []
    for agent in agents:
        for code in rng.sample(LANGUAGES, rng.randint(1, 2)):
            languages.append(AgentLanguage(agent=agent, code=code))
        for code in rng.sample(SKILLS, rng.randint(2, 4)):
            agent_skills.append(AgentSkill(agent=agent, skill=skills[code], level=rng.randint(2, 5)))
    AgentLanguage.objects.bulk_create(languages, batch_size=5000)
    AgentSkill.objects.bulk_create(agent_skills, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def decisions_measure(count: int, rng: random.Random, profiler=None) -> tuple[list[float], list[int], int]:
    from actions.tickets import ticket_escalate
    from agents.models import Agent
    from dispatch.services import ticket_dispatch

    integration = integration_for_bench()
    timings, queries, offered = [], [], 0
    for n in range(count):
        ticket, _ = ticket_escalate(
            integration=integration,
            external_id=f"bench-{time.time_ns()}-{n}",
            customer={"ref": f"c-{n}"},
            language=rng.choice(LANGUAGES),
            reason="customer_request",
            skills=[rng.choice(SKILLS)],
            summary="Double charge, customer upset",
            transcript=[{"role": "customer", "text": "I was charged twice", "at": timezone.now().isoformat()}],
        )
        with CaptureQueriesContext(connection) as captured:
            if profiler:
                profiler.enable()
            started = time.perf_counter()
            offers = ticket_dispatch(ticket_id=ticket.pk)
            timings.append((time.perf_counter() - started) * 1000)
            if profiler:
                profiler.disable()
        queries.append(len(captured.captured_queries))
        offered += bool(offers)
        # Free the offered agent again: the pool keeps its size and its shape.
        Agent.objects.filter(pk__in=[o.agent_id for o in offers]).update(has_pending_offer=False)
    return timings, queries, offered


def integration_for_bench():
    from agents.models import Integration
    from agents.services import integration_create

    existing = Integration.objects.filter(name="bench-decision").first()
    if existing:
        return existing
    with transaction.atomic():
        return integration_create(actor=None, name="bench-decision", webhook_url="")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", default="100,1000,10000")
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL: set DATABASE_URL.")
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    sizes = [int(s) for s in args.pools.split(",")]
    rows = []
    for size in sizes:
        pool_register(size, rng)
        decisions_measure(10, rng)  # warm caches and connections
        profiler = cProfile.Profile() if args.profile and size == sizes[-1] else None
        timings, queries, offered = decisions_measure(args.decisions, rng, profiler)
        rows.append((size, timings, queries, offered))
        print(
            f"{size:>6} online agents: median {statistics.median(timings):6.1f} ms  "
            f"p95 {percentile(timings, 0.95):6.1f} ms  p99 {percentile(timings, 0.99):6.1f} ms  "
            f"queries {statistics.median(queries):.0f}  offered {offered}/{len(timings)}",
            flush=True,
        )
        if profiler:
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(35)


if __name__ == "__main__":
    main()
