"""The dispatch engine alone, in this process: decisions per second at a queue of `queue` tickets and a
pool of `pool` online agents, nothing else running (used by `make bench`, scenario "engine").

Each round puts `queue` tickets in the queue (varied languages and skills, as the simulator's) with
`pool` agents online and free, runs one engine cycle (dispatch.engine.dispatch_cycle: every ticket
decided, offered and recorded with its decision record, the frames and expiry tasks sent after commit),
and counts the offers per second of the cycle. The offers are then taken back so the next round starts
from the same state.
"""

import random
import statistics
import time
import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

LANGUAGES = ("en", "en", "en", "de", "sv")
SKILLS = ("payments", "refunds", "disputes", "account")


@dataclass
class EngineFigures:
    queue: int
    pool: int
    rounds: list[float]  # decisions per second of each round
    offers_per_round: int
    queries_per_cycle: int

    @property
    def median(self) -> float:
        return statistics.median(self.rounds) if self.rounds else 0.0


def _pool_ensure(pool: int) -> list:
    """`pool` agents (created once, then reused), each speaking one or two languages with two skills."""
    from django.contrib.auth.models import Group

    from agents.models import Agent, AgentLanguage, AgentSkill, Role, Skill, User

    existing = list(Agent.objects.filter(user__username__startswith="engine-agent-").values_list("pk", flat=True))
    if len(existing) >= pool:
        return existing[:pool]
    rng = random.Random(11)
    skills = {code: Skill.objects.get_or_create(code=code, defaults={"name": code.title()})[0] for code in SKILLS}
    group, _ = Group.objects.get_or_create(name=Role.AGENT)
    start = len(existing)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"engine-agent-{n:05d}", password="!") for n in range(start, pool)]
        )
        User.groups.through.objects.bulk_create([User.groups.through(user_id=u.pk, group_id=group.pk) for u in users])
        agents = Agent.objects.bulk_create(
            [Agent(user=u, display_name=f"Engine {u.username[-5:]}", max_concurrent=3) for u in users]
        )
        languages, levels = [], []
        for agent in agents:
            for code in {rng.choice(LANGUAGES), "en"}:
                languages.append(AgentLanguage(agent=agent, code=code))
            for code in rng.sample(SKILLS, 2):
                levels.append(AgentSkill(agent=agent, skill=skills[code], level=rng.randint(1, 5)))
        AgentLanguage.objects.bulk_create(languages)
        AgentSkill.objects.bulk_create(levels)
    return existing + [a.pk for a in agents]


def _round_prepare(*, agent_ids: list, queue: int, integration, rng: random.Random) -> None:
    from agents.models import Agent, Skill
    from tickets.models import Ticket, TicketSkill

    now = timezone.now()
    Agent.objects.filter(pk__in=agent_ids).update(
        status=Agent.Status.ACTIVE,
        presence=Agent.Presence.ONLINE,
        open_sockets=1,
        presence_changed_at=now,
        active_tickets=0,
        has_pending_offer=False,
    )
    skills = {s.code: s for s in Skill.objects.filter(code__in=SKILLS)}
    tickets = Ticket.objects.bulk_create(
        [
            Ticket(
                integration=integration,
                external_id=f"engine-{uuid.uuid4().hex}",
                customer_ref=f"c-{n}",
                language=rng.choice(LANGUAGES),
                reason="customer_request",
                priority=rng.randint(0, 3),
                summary="Engine benchmark",
                created_at=now,
                queued_at=now,
            )
            for n in range(queue)
        ]
    )
    TicketSkill.objects.bulk_create(
        [TicketSkill(ticket=t, skill=skills[rng.choice(SKILLS)], min_level=1) for t in tickets if rng.random() < 0.7]
    )
    # Setting up rewrote every agent row: clean the tables as autovacuum would between busy minutes, so a
    # round measures the engine, not the bloat of the previous round's set-up.
    with connection.cursor() as cursor:
        for table in ("agents_agent", "tickets_ticket", "tickets_ticketskill", "dispatch_offer"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _round_clear(agent_ids: list) -> None:
    from agents.models import Agent
    from dispatch.models import Offer
    from tickets.models import Ticket

    Offer.objects.filter(ticket__external_id__startswith="engine-").delete()
    Ticket.objects.filter(external_id__startswith="engine-").delete()
    Agent.objects.filter(pk__in=agent_ids).update(
        has_pending_offer=False, presence=Agent.Presence.OFFLINE, open_sockets=0
    )


def engine_alone(*, queue: int = 1000, pool: int = 10000, rounds: int = 3, say=print) -> EngineFigures:
    """Decisions per second of the engine on this process's database (run with the platform stopped:
    nothing else may take the tickets or the agents)."""
    from django.test.utils import CaptureQueriesContext

    from agents.services import integration_create
    from dispatch.engine import dispatch_cycle
    from dispatch.policy import policy_current

    rng = random.Random(7)
    say(f"engine alone: {pool} agents, {queue} queued tickets, {rounds} rounds ...")
    agent_ids = _pool_ensure(pool)
    integration, _ = integration_create(name=f"engine-bench-{uuid.uuid4().hex[:8]}")
    policy_current()
    figures = EngineFigures(queue=queue, pool=pool, rounds=[], offers_per_round=0, queries_per_cycle=0)
    try:
        for number in range(rounds):
            _round_prepare(agent_ids=agent_ids, queue=queue, integration=integration, rng=rng)
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                offers = dispatch_cycle()
                elapsed = time.perf_counter() - started
            figures.rounds.append(offers / elapsed if elapsed else 0.0)
            figures.offers_per_round = offers
            figures.queries_per_cycle = len(queries.captured_queries)
            say(f"  round {number + 1}: {offers} offers in {elapsed * 1000:.0f} ms ({offers / elapsed:,.0f}/s)")
            _round_clear(agent_ids)
    finally:
        _round_clear(agent_ids)
    return figures
