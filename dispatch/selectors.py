"""Reads for dispatch: who may be offered a ticket, and why the others may not.

Every query starts from the dispatchable pool (active, online, at least one open socket), which the
partial index `agent_dispatchable_idx` keeps small and fast however many agents are registered.
"""

import time
import uuid
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from agents.models import Agent, AgentLanguage, AgentSkill, Role, ShiftBooking
from core.errors import NotFound
from dispatch.models import Offer, OfferStatus
from tickets.models import Ticket, TicketSkill, TicketStatus


@dataclass(frozen=True)
class SkillRequirement:
    skill_id: int
    code: str
    level: int


def skill_requirements(*, ticket: Ticket, skill_relaxation: int, rows=None) -> list[SkillRequirement]:
    """The ticket's required skills at the level in force after `skill_relaxation` levels of relaxation.
    Pass `rows` (its TicketSkill rows with their skills) to reuse what was read already."""
    if rows is None:
        rows = TicketSkill.objects.filter(ticket=ticket).select_related("skill").order_by("skill__code")
    return [SkillRequirement(row.skill_id, row.skill.code, max(1, row.min_level - skill_relaxation)) for row in rows]


def dispatch_pool() -> QuerySet[Agent]:
    return Agent.objects.filter(status=Agent.Status.ACTIVE, presence=Agent.Presence.ONLINE, open_sockets__gt=0)


def _speaks(language: str):
    return Exists(AgentLanguage.objects.filter(agent=OuterRef("pk"), code=language))


def _has_skill(requirement: SkillRequirement):
    return Exists(
        AgentSkill.objects.filter(agent=OuterRef("pk"), skill_id=requirement.skill_id, level__gte=requirement.level)
    )


def _refused_before(ticket: Ticket):
    """Declined this ticket, or let a delivered offer of it expire. An offer that never reached the
    agent's browser and expired is not held against them."""
    return Exists(
        Offer.objects.filter(ticket=ticket, agent=OuterRef("pk")).filter(
            Q(status=OfferStatus.DECLINED) | Q(status=OfferStatus.EXPIRED, delivered_at__isnull=False)
        )
    )


def _pool_flags(*, ticket: Ticket, requirements: list[SkillRequirement], with_refusals=True) -> dict:
    """What eligibility asks of each agent, as named expressions. Filters use them as aliases (never
    selected: a selected EXISTS is evaluated for the whole pool); the exclusion count selects them."""
    flags = {"speaks": _speaks(ticket.language)}
    if with_refusals:
        flags["refused_before"] = _refused_before(ticket)
    for requirement in requirements:
        flags[f"skill_{requirement.skill_id}"] = _has_skill(requirement)
    return flags


def _skills_q(requirements) -> Q:
    q = Q()
    for requirement in requirements:
        q &= Q(**{f"skill_{requirement.skill_id}": True})
    return q


def eligible_agents(
    *, ticket: Ticket, requirements: list[SkillRequirement], include_refusers: bool = False
) -> QuerySet[Agent]:
    """Agents who may be offered `ticket` now: the contract's rule (active, online, room, language,
    every required skill at the level in force), not already holding a pending offer, and not having
    refused this ticket before unless `include_refusers`."""
    agents = (
        dispatch_pool()
        .alias(**_pool_flags(ticket=ticket, requirements=requirements))
        .filter(_skills_q(requirements), speaks=True, has_capacity=True, has_pending_offer=False)
    )
    if not include_refusers:
        agents = agents.filter(refused_before=False)
    return agents


# Longest wait since the last offer first, never-offered agents before everyone; the expression
# index `agent_dispatchable_idx` has exactly this order, so the shortlist is read off the index
# instead of sorting the whole pool.
NEVER_OFFERED_FIRST = ExpressionWrapper(Q(last_offer_at__isnull=False), output_field=BooleanField())
SHORTLIST_ORDER = (NEVER_OFFERED_FIRST, "last_offer_at", "pk")


def shortlist(
    *, ticket: Ticket, requirements: list[SkillRequirement], include_refusers: bool, size: int, now
) -> list[Agent]:
    """The `size` eligible agents waiting longest since their last offer, each annotated with what the
    ranking needs (their level in every required skill as `level_<skill id>`, and `on_shift`), in one query."""
    levels = {
        f"level_{r.skill_id}": Subquery(
            AgentSkill.objects.filter(agent=OuterRef("pk"), skill_id=r.skill_id).values("level")[:1]
        )
        for r in requirements
    }
    on_shift = Exists(
        ShiftBooking.objects.filter(
            agent=OuterRef("pk"),
            shift__starts_at__lte=now,
            shift__ends_at__gt=now,
            shift__cancelled_at__isnull=True,
        )
    )
    agents = eligible_agents(ticket=ticket, requirements=requirements, include_refusers=include_refusers)
    return list(agents.annotate(on_shift=on_shift, **levels).order_by(*SHORTLIST_ORDER)[:size])


@dataclass(slots=True)
class Candidate:
    """What the engine needs of an agent free for an offer (read with values(), not as a model)."""

    pk: uuid.UUID
    ui_language: str
    presence: str
    presence_changed_at: object
    online_seconds: int
    last_offer_at: object
    offers_received: int
    csat_sum: int
    csat_count: int
    on_shift: bool = False
    levels: dict = field(default_factory=dict)  # skill id -> level


CANDIDATE_FIELDS = [f.name for f in dataclass_fields(Candidate) if f.name not in ("on_shift", "levels")]


def language_pool(*, language: str, skill_ids, size: int, now, agent_ids=None) -> list[Candidate]:
    """The `size` agents free for an offer now who speak `language`, waiting longest since their last
    offer first (read off `agent_dispatchable_idx`), with their levels in `skill_ids` and whether they
    are on a booked shift: the engine's candidates for every ticket of that language in a pass, filtered
    by skills in memory. Three queries, whatever the size. `agent_ids` reads only those agents (a
    conversation's previous holder beyond the pool read)."""
    free = dispatch_pool().filter(
        has_capacity=True,
        has_pending_offer=False,
        pk__in=AgentLanguage.objects.filter(code=language).values("agent_id"),
    )
    if agent_ids is not None:
        free = free.filter(pk__in=list(agent_ids))
    rows = free.order_by(*SHORTLIST_ORDER).values_list(*CANDIDATE_FIELDS)[:size]
    candidates = [Candidate(*row) for row in rows]
    ids = [c.pk for c in candidates]
    if not ids:
        return candidates
    by_id = {c.pk: c for c in candidates}
    if skill_ids:
        skills = AgentSkill.objects.filter(agent_id__in=ids, skill_id__in=list(skill_ids))
        for agent_id, skill_id, level in skills.values_list("agent_id", "skill_id", "level"):
            by_id[agent_id].levels[skill_id] = level
    on_shift = ShiftBooking.objects.filter(
        agent_id__in=ids, shift__starts_at__lte=now, shift__ends_at__gt=now, shift__cancelled_at__isnull=True
    )
    for agent_id in on_shift.values_list("agent_id", flat=True):
        by_id[agent_id].on_shift = True
    return candidates


EXCLUSION_REASONS = ("wrong_language", "missing_skill", "at_capacity", "busy_with_another_offer", "refused_before")
# Counting why the rest of the pool was passed over reads every online agent. Up to this pool size
# it is counted for each decision; above it, the count (all but `refused_before`, which is per ticket)
# is shared by decisions on the same requirements for POOL_COUNT_SECONDS, so a decision's cost does
# not grow with the pool. The decision record says which it was.
POOL_COUNT_EXACT_BELOW = 500
POOL_COUNT_SECONDS = 5.0
_pool_counts_shared: dict[tuple, tuple[float, dict]] = {}


def _pool_counts(*, ticket: Ticket, requirements: list[SkillRequirement]) -> dict:
    flags = ["speaks", "has_capacity", "has_pending_offer", *[f"skill_{r.skill_id}" for r in requirements]]
    groups = (
        dispatch_pool()
        .annotate(**_pool_flags(ticket=ticket, requirements=requirements, with_refusals=False))
        .values(*flags)
        .annotate(agents=Count("pk"))
        .order_by()
    )
    counts = {"online_pool": 0, "eligible": 0, **dict.fromkeys(EXCLUSION_REASONS, 0)}
    for group in groups:
        counts["online_pool"] += group["agents"]
        if not group["speaks"]:
            reason = "wrong_language"
        elif not all(group[f"skill_{r.skill_id}"] for r in requirements):
            reason = "missing_skill"
        elif not group["has_capacity"]:
            reason = "at_capacity"
        elif group["has_pending_offer"]:
            reason = "busy_with_another_offer"
        else:
            reason = "eligible"
        counts[reason] += group["agents"]
    return counts


def exclusion_counts(*, ticket: Ticket, requirements: list[SkillRequirement], include_refusers: bool = False) -> dict:
    """The online pool split by the first reason that excludes each agent, and the eligible rest:
    `online_pool` = `eligible` + the sum of EXCLUSION_REASONS, always. Agents who refused the ticket
    before count under `refused_before` unless `include_refusers` (nobody else was eligible). Taken
    before the decision claims its winner, so the winner counts as eligible. `counted_at` says when
    (a shared count of a large pool is up to POOL_COUNT_SECONDS old)."""
    key = (ticket.language, tuple(requirements))
    now = time.monotonic()
    shared = _pool_counts_shared.get(key)
    if shared and now - shared[0] < POOL_COUNT_SECONDS:
        counts = dict(shared[1])
    else:
        counts = {**_pool_counts(ticket=ticket, requirements=requirements), "counted_at": timezone.now().isoformat()}
        if counts["online_pool"] >= POOL_COUNT_EXACT_BELOW:
            _pool_counts_shared[key] = (now, dict(counts))
    if ticket.first_offered_at is not None and not include_refusers:  # nobody refused a ticket never offered
        refused = (
            eligible_agents(ticket=ticket, requirements=requirements, include_refusers=True)
            .filter(refused_before=True)
            .count()
        )
        refused = min(refused, counts["eligible"])  # a shared count may be older than the refusals
        counts["refused_before"] = refused
        counts["eligible"] -= refused
    return counts


def qualified_but_busy_exists(*, ticket: Ticket, requirements: list[SkillRequirement]) -> bool:
    """Is anyone online who meets `requirements` but has no room or an offer pending? Then a step that
    lowers the requirements waits for its time: they will be free soon, and the customer's required
    level (a VIP's or a vulnerable customer's extra level among them) is worth the wait."""
    return (
        dispatch_pool()
        .alias(**_pool_flags(ticket=ticket, requirements=requirements, with_refusals=False))
        .filter(_skills_q(requirements), speaks=True)
        .filter(Q(has_capacity=False) | Q(has_pending_offer=True))
        .exists()
    )


def pool_counts_forget() -> None:
    _pool_counts_shared.clear()


def queued_tickets() -> QuerySet[Ticket]:
    """The queue in the order it is served: most urgent first, then the oldest place in the queue."""
    return Ticket.objects.filter(status=TicketStatus.QUEUED).order_by("-priority", "queued_at")


def queued_tickets_for_agent(*, agent: Agent) -> QuerySet[Ticket]:
    """Queued tickets `agent` could take on language and skills (before any relaxation)."""
    languages = AgentLanguage.objects.filter(agent=agent).values("code")
    unmet_skill = TicketSkill.objects.filter(ticket=OuterRef("pk")).exclude(
        Exists(AgentSkill.objects.filter(agent=agent, skill_id=OuterRef("skill_id"), level__gte=OuterRef("min_level")))
    )
    return queued_tickets().filter(language__in=languages).exclude(Exists(unmet_skill))


def pending_offers_for_agent(*, agent: Agent) -> QuerySet[Offer]:
    return Offer.objects.filter(agent=agent, status=OfferStatus.PENDING).select_related("ticket").order_by("created_at")


def offers_for_ticket(*, ticket: Ticket) -> QuerySet[Offer]:
    return Offer.objects.filter(ticket=ticket).select_related("agent", "policy").order_by("created_at")


def reassign_problems(*, ticket: Ticket, agent: Agent) -> list[str]:
    """Why `agent` may not be given `ticket` now (empty: they may). The contract's rule: active, online
    on a socket, room under max_concurrent, the ticket's language, every required skill at the level in
    force (after the escalation steps' relaxation)."""
    problems = []
    if agent.status != Agent.Status.ACTIVE:
        problems.append(f"{agent.display_name} is {agent.status}, not active.")
    if not dispatch_pool().filter(pk=agent.pk).exists():
        problems.append(f"{agent.display_name} is not online.")
    if agent.active_tickets >= agent.max_concurrent:
        problems.append(f"{agent.display_name} is at capacity ({agent.active_tickets}/{agent.max_concurrent}).")
    if not AgentLanguage.objects.filter(agent=agent, code=ticket.language).exists():
        problems.append(f"{agent.display_name} does not speak '{ticket.language}'.")
    levels = dict(AgentSkill.objects.filter(agent=agent).values_list("skill__code", "level"))
    for requirement in skill_requirements(ticket=ticket, skill_relaxation=ticket.skill_relaxation):
        if levels.get(requirement.code, 0) < requirement.level:
            problems.append(
                f"{agent.display_name} lacks {requirement.code} at level {requirement.level} "
                f"(has {levels.get(requirement.code, 0)})."
            )
    if ticket.assigned_agent_id == agent.pk and ticket.status == TicketStatus.ASSIGNED:
        problems.append(f"{agent.display_name} holds this ticket already.")
    return problems


def reassign_candidates(*, ticket: Ticket, limit: int = 50) -> list[dict]:
    """Online agents who speak the ticket's language, each with the reasons they may not take it."""
    candidates = (
        dispatch_pool()
        .filter(language_rows__code=ticket.language)
        .order_by("active_tickets", "display_name")
        .distinct()[:limit]
    )
    return [
        {
            "id": str(agent.pk),
            "display_name": agent.display_name,
            "problems": reassign_problems(ticket=ticket, agent=agent),
        }
        for agent in candidates
    ]


# Who may read a ticket depends on offers (an agent reads what is offered to them), so it is answered here.


def ticket_visible_to(*, user, queryset: QuerySet[Ticket] | None = None) -> QuerySet[Ticket]:
    """The tickets `user` may read: an integration its own; an agent the ones assigned to them or offered
    to them right now (the agent sees everything before accepting); a supervisor all."""
    tickets = queryset if queryset is not None else Ticket.objects.all()
    role = user.role
    if role == Role.SUPERVISOR:
        return tickets
    if role == Role.INTEGRATION:
        return tickets.filter(integration__user=user)
    if role == Role.AGENT:
        offered = Offer.objects.filter(agent__user=user, status="pending").values("ticket_id")
        return tickets.filter(Q(assigned_agent__user=user) | Q(pk__in=offered))
    return tickets.none()


def ticket_get_for(*, user, ticket_id, queryset: QuerySet[Ticket] | None = None) -> Ticket:
    """The ticket if `user` may read it, else NotFound (never 403: its existence is not disclosed)."""
    ticket = ticket_visible_to(user=user, queryset=queryset).filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket
