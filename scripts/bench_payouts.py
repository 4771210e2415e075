"""Benchmark: build, approve and export a payout batch for 10,000 agents and 1,000,000 ledger lines.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dispatch .venv/bin/python scripts/bench_payouts.py
    (options: --agents 10000 --lines 1000000 --keep)

Runs on PostgreSQL only. It creates a throw-away database next to the configured one ("bench_payouts_<name>",
created like Django's test database), migrates it, bulk-inserts the agents (valid IBANs) and the lines with
INSERT ... SELECT, then times each step through the same services the API uses, and drops the database.
"""

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from ops.runplatform import DEMO_DEBTOR  # noqa: E402

# The SEPA export needs a debtor; the benchmark debits the demo account unless one is configured.
if not any(os.environ.get(variable) for variable in DEMO_DEBTOR):
    os.environ.update(DEMO_DEBTOR)

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

TIMINGS: list[tuple[str, float]] = []


@contextmanager
def timed(label: str):
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    TIMINGS.append((label, elapsed))
    print(f"{label:<48} {elapsed:8.2f} s", flush=True)


def seed(*, agents: int, lines: int) -> None:
    from django.contrib.auth.models import Group
    from django.utils import timezone
    from schwifty import IBAN

    from agents.models import Agent, User

    group, _ = Group.objects.get_or_create(name="agent")
    with timed(f"insert {agents:,} agents (users, valid IBANs)"):
        users = User.objects.bulk_create(
            [User(username=f"bench{n:06d}", password="!") for n in range(agents)], batch_size=5000
        )
        User.groups.through.objects.bulk_create(
            [User.groups.through(user_id=user.pk, group_id=group.pk) for user in users], batch_size=5000
        )
        rows = []
        for n, user in enumerate(users):
            iban = IBAN.generate("DE", bank_code="37040044", account_code=f"{100000000 + n:010d}")
            rows.append(
                Agent(
                    user=user,
                    display_name=f"Bench Agent {n:05d}",
                    payout_holder=f"Bench Agent {n:05d}",
                    payout_iban=iban.compact,
                    payout_bic="COBADEFFXXX",
                    payout_street="Hauptstr. 1",
                    payout_postcode="50667",
                    payout_town="Koeln",
                    payout_country="DE",
                )
            )
        Agent.objects.bulk_create(rows, batch_size=5000)
    now = timezone.now()
    with timed(f"insert {lines:,} pay lines (INSERT ... SELECT)"), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH numbered AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM agents_agent)
            INSERT INTO payouts_payline
                (id, agent_id, ticket_id, kind, amount, currency, explanation, inputs, rate_card_id,
                 created_by_id, reason, period_start, created_at)
            SELECT gen_random_uuid(), numbered.id, NULL, 'adjustment', ((g %% 997) + 1) / 100.0, 'EUR',
                   'Benchmark line', '{}'::jsonb, NULL, NULL, 'benchmark', NULL,
                   %s - ((g %% 5000) * interval '1 minute')
            FROM generate_series(0, %s - 1) AS g
            JOIN numbered ON numbered.n = g %% %s
            """,
            [now, lines, agents],
        )
        cursor.execute("ANALYZE payouts_payline")


def run(*, agents: int, lines: int) -> None:
    from django.utils import timezone

    from agents.services import user_create
    from payouts import batches
    from payouts.models import PayoutItemLine

    seed(agents=agents, lines=lines)
    creator = user_create(username="bench-finance", password=None, role="finance")
    approver = user_create(username="bench-finance2", password=None, role="finance")
    today = timezone.now().date()
    with timed("build the batch (draft, items, claim every line)"):
        batch = batches.payout_batch_create(
            actor=creator, period_start=today - timezone.timedelta(days=7), period_end=today, currency="EUR"
        )
    assert batch.item_count == agents, batch.item_count
    assert PayoutItemLine.objects.count() == lines
    with timed("approve (second finance user)"):
        batches.payout_batch_approve(actor=approver, batch_id=batch.pk)
    with timed("export CSV"):
        _, csv_content = batches.payout_batch_export_csv(actor=creator, batch_id=batch.pk)
    with timed("export pain.001.001.09 (incl. XSD validation)"):
        _, xml09, _ = batches.payout_batch_export_xml(actor=creator, batch_id=batch.pk)
    with timed("export pain.001.001.03 (incl. XSD validation)"):
        batches.payout_batch_export_xml(actor=creator, batch_id=batch.pk, version="pain.001.001.03")
    with timed("export pain.001.001.09 again (same bytes)"):
        _, again, _ = batches.payout_batch_export_xml(actor=creator, batch_id=batch.pk)
    assert again == xml09
    print(
        f"batch total {batch.total_amount} EUR, {batch.item_count:,} items; CSV {len(csv_content):,} bytes, "
        f"XML {len(xml09):,} bytes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...")
    old_name = connection.settings_dict["NAME"]
    # Its own name, so it never collides with the test suite's test_<name> database.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_payouts_{old_name}"
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    print(f"database {test_name} (PostgreSQL {connection.cursor().connection.info.server_version})")
    started = time.perf_counter()
    try:
        run(agents=args.agents, lines=args.lines)
    finally:
        print(f"{'total, including seeding':<48} {time.perf_counter() - started:8.2f} s")
        if not args.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
