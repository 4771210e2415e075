"""Reads for dispatch: who may be offered a ticket, and why the others may not.

Every query starts from the dispatchable pool (active, online, at least one open socket), which the
partial index `agent_dispatchable_idx` keeps small and fast however many agents are registered.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from agents.models import Agent, AgentLanguage, AgentSkill
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


def _annotated_pool(*, ticket: Ticket, requirements: list[SkillRequirement]) -> QuerySet[Agent]:
    pool = dispatch_pool().annotate(speaks=_speaks(ticket.language), refused_before=_refused_before(ticket))
    skill_flags = {}
    for requirement in requirements:
        skill_flags[f"skill_{requirement.skill_id}"] = _has_skill(requirement)
    return pool.annotate(**skill_flags)


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
    agents = _annotated_pool(ticket=ticket, requirements=requirements).filter(
        _skills_q(requirements), speaks=True, has_capacity=True, has_pending_offer=False
    )
    if not include_refusers:
        agents = agents.filter(refused_before=False)
    return agents


def exclusion_counts(*, ticket: Ticket, requirements: list[SkillRequirement]) -> dict[str, int]:
    """How many of the online pool were excluded, by the first reason that excludes them."""
    rows = _annotated_pool(ticket=ticket, requirements=requirements).values_list(
        "speaks", "has_capacity", "has_pending_offer", "refused_before", *[f"skill_{r.skill_id}" for r in requirements]
    )
    counts = dict.fromkeys(
        ("wrong_language", "missing_skill", "at_capacity", "busy_with_another_offer", "refused_before"), 0
    )
    online_pool = 0
    for speaks, has_capacity, has_pending_offer, refused_before, *skills in rows:
        online_pool += 1
        if not speaks:
            counts["wrong_language"] += 1
        elif not all(skills):
            counts["missing_skill"] += 1
        elif not has_capacity:
            counts["at_capacity"] += 1
        elif has_pending_offer:
            counts["busy_with_another_offer"] += 1
        elif refused_before:
            counts["refused_before"] += 1
    return {"online_pool": online_pool, **counts}


def agents_on_shift(*, agent_ids, now) -> set:
    """Which of `agent_ids` are on a booked, not cancelled shift at `now`."""
    from dispatch.models import ShiftBooking

    return set(
        ShiftBooking.objects.filter(
            agent_id__in=list(agent_ids),
            shift__starts_at__lte=now,
            shift__ends_at__gt=now,
            shift__cancelled_at__isnull=True,
        ).values_list("agent_id", flat=True)
    )


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
