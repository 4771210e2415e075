"""Ranking among eligible agents: plain arithmetic on one agent row, so every score can be explained.

score = Σ weight × component, each component in [0, 1]:
- skill_fit: the agent's mean level over the ticket's required skills, / 5 (no required skill: 0);
- quality:   CSAT smoothed towards a prior of 4.0 worth 5 ratings, so one bad rating does not sink a
             new agent, mapped from 1..5 to 0..1;
- fairness:  half "time since the last offer" (full after 10 minutes, or never offered), half "share
             of offers per online hour against the pool's median" (1 with no offers yet, 0.5 at the
             median, 0 at twice the median);
- shift:     1 when the agent is on a booked shift now (they promised to be here: they go first).
Weights come from the dispatch policy in force.

Before the score: the agent who last held the customer's conversation (an earlier escalation of it, e.g.
before a hand-back to the bot) goes first when they are eligible and free (previous_holder_first): the
customer does not start again from zero with a stranger. It is an order, not a weight (their score is
computed and recorded as everyone's); the decision record marks it (`facts.previous_holder`) and the
offer says so (reason code `previous_holder`).
"""

from dataclasses import dataclass, field, replace
from decimal import Decimal

from agents.models import Agent
from agents.presence import agent_online_seconds

CSAT_PRIOR_MEAN = 4.0
CSAT_PRIOR_WEIGHT = 5
FULL_IDLE_SECONDS = 600


@dataclass
class ScoredAgent:
    agent: Agent
    score: float
    components: dict[str, float]
    facts: dict = field(default_factory=dict)


def smoothed_csat(agent: Agent) -> float:
    return (agent.csat_sum + CSAT_PRIOR_MEAN * CSAT_PRIOR_WEIGHT) / (agent.csat_count + CSAT_PRIOR_WEIGHT)


def offers_per_online_hour(agent: Agent, *, now) -> float:
    hours = max(agent_online_seconds(agent, now=now), 60) / 3600
    return agent.offers_received / hours


def score_agent(
    *, agent: Agent, skill_levels: dict[int, int], requirements, weights: dict, now, pool_median_rate, on_shift=False
):
    if requirements:
        skill_fit = sum(skill_levels.get(r.skill_id, 0) for r in requirements) / (5 * len(requirements))
    else:
        skill_fit = 0.0
    csat = smoothed_csat(agent)
    quality = (csat - 1) / 4
    idle_seconds = (now - agent.last_offer_at).total_seconds() if agent.last_offer_at else None
    idle = 1.0 if idle_seconds is None else min(1.0, max(0.0, idle_seconds) / FULL_IDLE_SECONDS)
    rate = offers_per_online_hour(agent, now=now)
    share = 0.5 if not pool_median_rate else min(1.0, max(0.0, 1 - 0.5 * rate / pool_median_rate))
    if agent.offers_received == 0:
        share = 1.0
    fairness = 0.5 * idle + 0.5 * share
    components = {"skill_fit": skill_fit, "quality": quality, "fairness": fairness, "shift": 1.0 if on_shift else 0.0}
    score = sum(float(weights.get(name, 0)) * value for name, value in components.items())
    facts = {
        "csat": round(csat, 2),
        "csat_count": agent.csat_count,
        "idle_seconds": None if idle_seconds is None else int(idle_seconds),
        "offers_per_online_hour": round(rate, 2),
        "pool_median_offers_per_online_hour": round(pool_median_rate or 0, 2),
        "skill_levels": {str(k): v for k, v in skill_levels.items()},
        "on_shift": on_shift,
    }
    return ScoredAgent(
        agent=agent, score=round(score, 4), components={k: round(v, 4) for k, v in components.items()}, facts=facts
    )


def previous_holder_first(ranked: list[ScoredAgent], holder: ScoredAgent) -> list[ScoredAgent]:
    """`ranked` with the conversation's previous holder (scored like the others) in front, marked."""
    marked = replace(holder, facts={**holder.facts, "previous_holder": True})
    return [marked, *(s for s in ranked if s.agent.pk != holder.agent.pk)]


def decimal_str(value: Decimal) -> str:
    return f"{value:.2f}"
