"""The simulator's agents and integration, written straight to the database (the command runs with the
platform's settings). Idempotent: a second run reuses `sim-agent-0001`.. and `sim-bot`, brings their
languages and skills to this run's mix, and issues fresh tokens (only token hashes are stored, so the
previous run's tokens cannot be read back; they are revoked instead).

Bulk writes, because the benchmark asks for 10,000 agents: one agent at a time through
agents.services.agent_create costs minutes there. The rows written are the ones agent_create and
person_token_issue write, minus the audit entries (synthetic agents are not a supervisor's decision).
"""

import random
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction

from actions.tickets import ticket_cancel
from agents.models import Agent, AgentLanguage, AgentSkill, Integration, PersonToken, Role, Skill, User
from agents.services import integration_create, skill_create
from agents.tokens import INTEGRATION_PREFIX, PERSON_PREFIX, new_token, token_hash
from tickets.models import Ticket, TicketStatus

SIM_AGENT_PREFIX = "sim-agent-"
SIM_INTEGRATION_NAME = "sim-bot"
BATCH_SIZE = 1000


@dataclass(frozen=True)
class SimPopulation:
    agent_tokens: list[str]  # index i is sim-agent-{i+1:04d}
    integration_token: str
    webhook_secret: str


def sim_agent_username(index: int) -> str:
    return f"{SIM_AGENT_PREFIX}{index + 1:04d}"


def weighted_choice(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    codes, weights = zip(*weighted, strict=True)
    return rng.choices(codes, weights=weights)[0]


def agent_profile(*, rng: random.Random, languages: list[tuple[str, float]], skills: list[str]) -> tuple:
    """(languages, {skill: level}) of one synthetic agent: a main language drawn from the ticket mix,
    often English besides, and each skill of the mix with a fair chance, at any level."""
    spoken = {weighted_choice(rng, languages)}
    if rng.random() < 0.4:
        spoken.add("en" if any(code == "en" for code, _ in languages) else weighted_choice(rng, languages))
    levels = {code: rng.randint(1, 5) for code in skills if rng.random() < 0.6}
    return sorted(spoken), levels


@transaction.atomic
def sim_population_ensure(
    *,
    agents: int,
    languages: list[tuple[str, float]],
    skills: list[str],
    webhook_url: str,
    seed: int = 1,
    max_concurrent: int = 2,
) -> SimPopulation:
    """`agents` active synthetic agents with the given language and skill mix, each with a new bearer
    token, and the integration `sim-bot` delivering its webhooks to `webhook_url`."""
    for code in skills:
        if not Skill.objects.filter(code=code).exists():
            skill_create(code=code, name=code.replace("_", " ").capitalize())
    skill_rows = {skill.code: skill for skill in Skill.objects.filter(code__in=skills)}

    usernames = [sim_agent_username(i) for i in range(agents)]
    existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    missing = [name for name in usernames if name not in existing]
    unusable = make_password(None)
    User.objects.bulk_create([User(username=name, password=unusable) for name in missing], batch_size=BATCH_SIZE)
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    agent_group, _ = Group.objects.get_or_create(name=Role.AGENT)
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=users[name].pk, group_id=agent_group.pk) for name in missing],
        batch_size=BATCH_SIZE,
        ignore_conflicts=True,
    )
    with_agent = set(Agent.objects.filter(user__username__in=usernames).values_list("user__username", flat=True))
    Agent.objects.bulk_create(
        [
            Agent(user=users[name], display_name=f"Sim {name.removeprefix(SIM_AGENT_PREFIX)}")
            for name in usernames
            if name not in with_agent
        ],
        batch_size=BATCH_SIZE,
    )
    sim_agents = Agent.objects.filter(user__username__in=usernames)
    sim_agents.update(status=Agent.Status.ACTIVE, status_reason="", max_concurrent=max_concurrent)
    agent_ids = dict(sim_agents.values_list("user__username", "pk"))

    rng = random.Random(seed)
    AgentLanguage.objects.filter(agent_id__in=agent_ids.values()).delete()
    AgentSkill.objects.filter(agent_id__in=agent_ids.values()).delete()
    language_rows, skill_level_rows = [], []
    for name in usernames:
        spoken, levels = agent_profile(rng=rng, languages=languages, skills=skills)
        language_rows += [AgentLanguage(agent_id=agent_ids[name], code=code) for code in spoken]
        skill_level_rows += [
            AgentSkill(agent_id=agent_ids[name], skill=skill_rows[code], level=level) for code, level in levels.items()
        ]
    AgentLanguage.objects.bulk_create(language_rows, batch_size=BATCH_SIZE)
    AgentSkill.objects.bulk_create(skill_level_rows, batch_size=BATCH_SIZE)

    PersonToken.objects.filter(user__username__startswith=SIM_AGENT_PREFIX).delete()
    tokens = [new_token(PERSON_PREFIX) for _ in usernames]
    PersonToken.objects.bulk_create(
        [
            PersonToken(user=users[name], key_hash=token_hash(token))
            for name, token in zip(usernames, tokens, strict=True)
        ],
        batch_size=BATCH_SIZE,
    )

    integration_token = new_token(INTEGRATION_PREFIX)
    integration = Integration.objects.filter(name=SIM_INTEGRATION_NAME).first()
    if integration is None:
        integration, _ = integration_create(name=SIM_INTEGRATION_NAME, webhook_url=webhook_url, token=integration_token)
    else:
        Integration.objects.filter(pk=integration.pk).update(
            token_hash=token_hash(integration_token), webhook_url=webhook_url
        )
    return SimPopulation(
        agent_tokens=tokens, integration_token=integration_token, webhook_secret=integration.webhook_secret
    )


def sim_leftovers_cancel() -> int:
    """Cancel `sim-bot` tickets an interrupted earlier run left open (their simulated customers are long
    gone), so that a run starts with an empty queue. Returns how many were cancelled."""

    open_statuses = [TicketStatus.QUEUED, TicketStatus.OFFERED, TicketStatus.ASSIGNED]
    leftovers = list(Ticket.objects.filter(integration__name=SIM_INTEGRATION_NAME, status__in=open_statuses))
    for ticket in leftovers:
        ticket_cancel(ticket=ticket)
    return len(leftovers)
