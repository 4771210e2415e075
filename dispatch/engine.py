"""The dispatch engine: queued tickets decided in batches, near the database's own speed.

A *pass* takes the queued tickets that can be decided now, most urgent first (priority, then original
queue time), up to PASS_SIZE of them, locked with FOR UPDATE SKIP LOCKED (another engine running at the
same moment takes the others), and decides all of them in one transaction:

1. who could take them: for each set of requirements (language and skills at the level in force) one
   shortlist query, the agents free for an offer waiting longest since their last one (the index
   `agent_dispatchable_idx`), scored once (dispatch.ranking); who refused which ticket before, one query;
2. each ticket in queue order takes the best-scored free agents of its stage (dispatch.escalation) that
   no earlier ticket of the pass took, exactly as the single-ticket rules say (refusers only when
   nobody else is; skill relaxation waits while qualified agents are merely busy);
3. the chosen agents are claimed in pk order with SKIP LOCKED and a conditional UPDATE (active, no offer
   pending): an agent another engine claimed meanwhile is simply not ours, and a ticket left with
   nobody stays queued for the next pass;
4. the offers and their decision records are inserted in one statement, the tickets moved to offered in
   one; after commit every offer frame is sent (serialised once) and one Celery task per pass expires
   the pass's offers when their time is up (the sweep catches a lost one).

A *cycle* (dispatch_cycle) runs passes until the queue holds nothing more that can be decided now. It is
run by the dispatcher process (`manage.py dispatcher`), woken through Redis by every event that can
make a decision possible (a ticket arrives, an agent frees up, an offer ends: dispatch_wake) and at
least every IDLE_SECONDS; Celery beat's sweep runs one too, so nothing waits for long if the
dispatcher is down.
"""

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Prefetch, Q, prefetch_related_objects
from django.utils import timezone

from agents.models import AgentLanguage
from agents.services import agents_offer_slot_claim
from core import events as pushes
from core import metrics
from core.bulk import rows_insert
from dispatch.alerts import supervisor_alert_raise
from dispatch.escalation import Stage, escalation_stages, stage_reached
from dispatch.events import offer_frame
from dispatch.models import Offer, OfferStatus
from dispatch.policy import policy_current
from dispatch.ranking import ScoredAgent, previous_holder_first, score_agent
from dispatch.reasons import why_codes, why_text
from dispatch.selectors import (
    EXCLUSION_REASONS,
    Candidate,
    SkillRequirement,
    dispatch_pool,
    exclusion_counts,
    language_pool,
    qualified_but_busy_exists,
    skill_requirements,
)
from dispatch.surge import surge_current
from payouts.services import pay_estimate, rate_card_in_force
from tickets.lifecycle import tickets_transition_many
from tickets.models import Assignment, Ticket, TicketSkill, TicketStatus
from tickets.selectors import tickets_with_offer_payload

log = logging.getLogger(__name__)

PASS_SIZE = 200
SHORTLIST_SIZE = 50
# A queued ticket nobody can take now is looked at again this long after the last look (escalation
# steps and alerts are applied within this many seconds of falling due).
RETRY_SECONDS = 2
IDLE_SECONDS = 1.0
WAKE_KEY = "dispatch:wake"
POOL_MEDIAN_CACHE_KEY = "dispatch:pool-median-offer-rate"

S = TicketStatus


# --- Waking the dispatcher ------------------------------------------------------------------------

_redis = None


def _redis_client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    return _redis


def dispatch_wake() -> None:
    """Something happened that may make a decision possible: wake the dispatcher. Many wakes before it
    looks are one pass (it empties the list). A hint only: with Redis away the periodic passes find the
    work anyway."""
    try:
        client = _redis_client()
        client.rpush(WAKE_KEY, 1)
        client.ltrim(WAKE_KEY, -1000, -1)
    except redis.RedisError:
        log.warning("could not wake the dispatcher; its periodic pass will find the work", exc_info=True)


def dispatch_wake_on_commit() -> None:
    transaction.on_commit(dispatch_wake, robust=True)


# --- One pass -------------------------------------------------------------------------------------


@dataclass
class Decision:
    ticket: Ticket
    stage: Stage
    requirements: list[SkillRequirement] | None
    ranked: list[ScoredAgent]  # the candidates this decision chose from, best first
    chosen: list[ScoredAgent]
    included_refusers: bool
    key: tuple | None
    taken_before: set = field(default_factory=set)  # agents earlier decisions of the pass took
    changes: dict = field(default_factory=dict)


class Pass:
    """What one pass knows: the policy, its candidates per language and per set of requirements, who
    refused which ticket, and which agents its earlier decisions took."""

    def __init__(self, *, now, tickets: list[Ticket]):
        self.now = now
        self.policy = policy_current()
        self.stages = escalation_stages(self.policy)
        self.median_rate = float(cache.get(POOL_MEDIAN_CACHE_KEY) or 0)
        self.taken: set = set()
        self.skill_ids = sorted({row.skill_id for t in tickets for row in t.required_skills.all()})
        self.demand: dict = {}  # tickets of the pass per language, and per (language, requirements)
        for ticket in tickets:
            self.demand[ticket.language] = self.demand.get(ticket.language, 0) + 1
            start = self.stages[self._start(ticket)]
            key = (ticket.language, tuple(self.requirements(ticket, start)))
            self.demand[key] = self.demand.get(key, 0) + 1
        self.pools: dict[str, tuple[list[Candidate], bool]] = {}  # language -> (agents, maybe more beyond)
        self.ranked: dict[tuple, list[ScoredAgent]] = {}
        self.busy: dict[tuple, bool] = {}
        self.refusals = self._refusals(tickets)
        self.previous_holders = self._previous_holders(tickets)

    @staticmethod
    def _refusals(tickets) -> dict:
        """Who declined each ticket, or let a delivered offer of it expire: one query for the pass."""
        offered_before = [t.pk for t in tickets if t.first_offered_at is not None]
        refusals: dict = {}
        if offered_before:
            rows = Offer.objects.filter(ticket_id__in=offered_before).filter(
                Q(status=OfferStatus.DECLINED) | Q(status=OfferStatus.EXPIRED, delivered_at__isnull=False)
            )
            for ticket_id, agent_id in rows.values_list("ticket_id", "agent_id"):
                refusals.setdefault(ticket_id, set()).add(agent_id)
        return refusals

    @staticmethod
    def _previous_holders(tickets) -> dict:
        """The agent who last held each ticket's conversation in an earlier escalation of it (ticket ->
        agent id): one query for the pass, none when no ticket names a conversation."""
        linked = [t for t in tickets if t.conversation_id]
        if not linked:
            return {}
        keys = {(t.integration_id, t.conversation_id) for t in linked}
        same_conversation = Q()
        for integration_id, conversation_id in keys:
            same_conversation |= Q(ticket__integration_id=integration_id, ticket__conversation_id=conversation_id)
        rows = (
            Assignment.objects.filter(same_conversation)
            .exclude(ticket_id__in=[t.pk for t in linked])
            .order_by("started_at")
            .values_list("ticket__integration_id", "ticket__conversation_id", "agent_id")
        )
        last = {(integration_id, conversation_id): agent_id for integration_id, conversation_id, agent_id in rows}
        return {
            t.pk: last[(t.integration_id, t.conversation_id)]
            for t in linked
            if (t.integration_id, t.conversation_id) in last
        }

    def _previous_holder(self, ticket: Ticket, requirements, refused: set) -> ScoredAgent | None:
        """The conversation's previous holder, scored, when they may be offered this ticket now: free
        (online, room, no pending offer, not taken by this pass), of the ticket's language and skills,
        and not among those who refused it."""
        holder_id = self.previous_holders.get(ticket.pk)
        if holder_id is None or holder_id in self.taken or holder_id in refused:
            return None
        agent = next((a for a in self._pool(ticket.language) if a.pk == holder_id), None)
        if agent is None and self.pools[ticket.language][1]:  # the pool read was cut short: read them alone
            found = language_pool(
                language=ticket.language, skill_ids=self.skill_ids, size=1, now=self.now, agent_ids=[holder_id]
            )
            agent = found[0] if found else None
        if agent is None or not all(agent.levels.get(r.skill_id, 0) >= r.level for r in requirements):
            return None
        return score_agent(
            agent=agent,
            skill_levels={r.skill_id: agent.levels.get(r.skill_id) for r in requirements},
            requirements=requirements,
            weights=self.policy.ranking_weights,
            now=self.now,
            pool_median_rate=self.median_rate,
            on_shift=agent.on_shift,
        )

    def _start(self, ticket: Ticket) -> int:
        """The stage the ticket's wait has reached (or a later one it reached before)."""
        waited = (self.now - ticket.queued_at).total_seconds()
        reached = max((s["stage"] for s in ticket.escalation_steps_done), default=0)
        return max(stage_reached(self.stages, waited_seconds=waited), reached)

    def requirements(self, ticket: Ticket, stage: Stage) -> list[SkillRequirement]:
        return skill_requirements(
            ticket=ticket, skill_relaxation=stage.skill_relaxation, rows=list(ticket.required_skills.all())
        )

    def _pool(self, language: str) -> list[Candidate]:
        """The free agents of `language`, waiting longest first: one query per language and pass, large
        enough for the pass's tickets of that language (grown when a skill filter leaves too few)."""
        if language not in self.pools:
            size = max(SHORTLIST_SIZE, 4 * self.demand.get(language, 1) * self.policy.offer_fanout + 20)
            self._fetch(language, size)
        return self.pools[language][0]

    def _fetch(self, language: str, size: int) -> None:
        agents = language_pool(language=language, skill_ids=self.skill_ids, size=size, now=self.now)
        self.pools[language] = (agents, len(agents) == size)
        for key in [k for k in self.ranked if k[0] == language]:
            del self.ranked[key]

    def grow(self, language: str) -> bool:
        """Read more of the language's free agents (a skill set ran out of candidates); False when there
        are no more to read."""
        agents, more = self.pools.get(language, ([], True))
        if not more:
            return False
        self._fetch(language, 2 * max(len(agents), SHORTLIST_SIZE))
        return True

    def candidates(self, ticket: Ticket, requirements) -> tuple[tuple, list[ScoredAgent]]:
        """The free agents who meet `requirements` in the ticket's language, scored, best first."""
        key = (ticket.language, tuple(requirements))
        if key not in self.ranked:
            # The agents waiting longest who qualify (the pool's order), as many as the pass's tickets of
            # these requirements may take and SHORTLIST_SIZE more: the documented shortlist, scored.
            wanted = SHORTLIST_SIZE + self.demand.get(key, 1) * self.policy.offer_fanout
            qualified = []
            for agent in self._pool(ticket.language):
                if agent.pk in self.taken:
                    continue
                if all(agent.levels.get(r.skill_id, 0) >= r.level for r in requirements):
                    qualified.append(agent)
                    if len(qualified) == wanted:
                        break
            scored = (
                score_agent(
                    agent=agent,
                    skill_levels={r.skill_id: agent.levels.get(r.skill_id) for r in requirements},
                    requirements=requirements,
                    weights=self.policy.ranking_weights,
                    now=self.now,
                    pool_median_rate=self.median_rate,
                    on_shift=agent.on_shift,
                )
                for agent in qualified
            )
            self.ranked[key] = sorted(scored, key=lambda s: (-s.score, str(s.agent.pk)))
        return key, self.ranked[key]

    def free_candidates(self, ticket: Ticket, requirements) -> tuple[tuple, list[ScoredAgent]]:
        """Candidates no earlier decision of the pass took. When those ran out: the next qualified agents
        of the pool, and then more of the pool if it was cut short."""
        key, ranked = self.candidates(ticket, requirements)
        free = [s for s in ranked if s.agent.pk not in self.taken]
        while not free:
            self.ranked.pop(key, None)  # again from the pool, past the agents taken meanwhile
            key, free = self.candidates(ticket, requirements)
            if not free and not self.grow(ticket.language):
                break
        return key, free

    def qualified_but_busy(self, ticket, key, requirements) -> bool:
        """Are agents who meet `requirements` online but busy? Those this pass gave an offer count too."""
        if any(s.agent.pk in self.taken for s in self.ranked.get(key, ())):
            return True
        if key not in self.busy:
            self.busy[key] = qualified_but_busy_exists(ticket=ticket, requirements=requirements)
        return self.busy[key]

    def decide(self, ticket: Ticket) -> Decision:
        """The single-ticket rules (dispatch.services' docstring), on the pass's candidates."""
        waited = (self.now - ticket.queued_at).total_seconds()
        reached = max((s["stage"] for s in ticket.escalation_steps_done), default=0)
        time_stage = self.stages[stage_reached(self.stages, waited_seconds=waited)]
        start = max(time_stage.number, reached)
        refused = self.refusals.get(ticket.pk, set())
        tried: set = set()
        found = None
        for stage in self.stages[start:]:
            requirements = self.requirements(ticket, stage)
            if tuple(requirements) in tried:
                continue  # same requirements as a stage that found nobody: nobody here either
            tried.add(tuple(requirements))
            key, free = self.free_candidates(ticket, requirements)
            fresh = [s for s in free if s.agent.pk not in refused]
            holder = self._previous_holder(ticket, requirements, refused)
            if holder is not None:
                fresh = previous_holder_first(fresh, holder)
            if fresh:
                found = (stage, requirements, fresh, False, key)
                break
            if self.qualified_but_busy(ticket, key, requirements):
                # No lowering of the level while they are busy; someone who refused before may take it,
                # since nobody else is eligible.
                found = (stage, requirements, free, True, key) if free else (self.stages[start], None, [], False, None)
                break
        if found is None:
            last = self.stages[-1]
            requirements = self.requirements(ticket, last)
            key, free = self.free_candidates(ticket, requirements)
            found = (last, requirements, free, True, key) if free else (last, None, [], False, None)
        stage, requirements, ranked, included_refusers, key = found
        chosen = ranked[: stage.fanout]
        decision = Decision(
            ticket=ticket,
            stage=stage,
            requirements=requirements,
            ranked=ranked,
            chosen=chosen,
            included_refusers=included_refusers,
            key=key,
            taken_before=set(self.taken),
        )
        self.taken.update(s.agent.pk for s in chosen)
        # With nobody to offer it to, the ticket keeps the stage its wait has reached: skipping ahead is
        # for finding someone, and there is nobody to find.
        decision.changes = stage_changes(
            ticket, stage if chosen else self.stages[start], time_stage=time_stage, now=self.now
        )
        return decision


def stage_changes(ticket: Ticket, stage: Stage, *, time_stage: Stage, now) -> dict:
    """How far the escalation went, as changes to the ticket row. Alerts fire only once the wait has
    really reached the alert step: skipping ahead (nobody eligible) may widen the search early, never
    the alarm."""
    reached = max((s["stage"] for s in ticket.escalation_steps_done), default=0)
    if time_stage.alert_supervisors and not any(s.get("alerted") for s in ticket.escalation_steps_done):
        supervisor_alert_raise(
            kind="ticket_waiting",
            ticket=ticket,
            message=f"Ticket {ticket.external_id} ({ticket.language}) has waited "
            f"{int((now - ticket.queued_at).total_seconds())} s without an agent.",
        )
        stage = max(stage, time_stage, key=lambda s: s.number)
        steps = [
            *ticket.escalation_steps_done,
            {"stage": stage.number, "at": now.isoformat(), "alerted": True, **stage.as_dict()},
        ]
    elif stage.number > reached:
        steps = [*ticket.escalation_steps_done, {"stage": stage.number, "at": now.isoformat(), **stage.as_dict()}]
    else:
        return {}
    ticket.escalation_steps_done = steps
    ticket.skill_relaxation = stage.skill_relaxation
    return {"escalation_steps_done": steps, "skill_relaxation": stage.skill_relaxation}


def _counts(decision: Decision, *, shared: dict, eligible_ids: set) -> dict:
    """The decision record's pool: the online pool split by the first reason that excludes each agent,
    counted at the start of the pass (shared by the pass's decisions on the same requirements), with the
    agents earlier decisions of this pass took counted as busy with another offer: online = eligible +
    every exclusion, always."""
    ticket, requirements = decision.ticket, decision.requirements
    per_ticket = ticket.first_offered_at is not None  # who refused it before is this ticket's own count
    key = (ticket.language, tuple(requirements), decision.included_refusers)
    if per_ticket or key not in shared:
        counts = exclusion_counts(ticket=ticket, requirements=requirements, include_refusers=decision.included_refusers)
        if not per_ticket:
            shared[key] = counts
    else:
        counts = shared[key]
    counts = dict(counts)
    moved = min(len(decision.taken_before & eligible_ids), counts["eligible"])
    counts["eligible"] -= moved
    counts["busy_with_another_offer"] += moved
    return counts


def _record(decision: Decision, chosen: ScoredAgent, *, counts: dict, policy, waited: int, now) -> dict:
    return {
        "policy_version": policy.version,
        "decided_at": now.isoformat(),
        "stage": decision.stage.as_dict(),
        "waited_seconds": waited,
        "requirements": [{"skill": r.code, "level": r.level} for r in decision.requirements],
        "pool": {
            "online": counts["online_pool"],
            "eligible": counts["eligible"],
            "counted_at": counts["counted_at"],
            "shortlisted": len(decision.ranked),
            "shortlist_rule": f"the {SHORTLIST_SIZE} eligible agents waiting longest since their last offer",
        },
        "excluded": {k: counts[k] for k in EXCLUSION_REASONS},
        "previous_refusers_included": decision.included_refusers,
        "weights": policy.ranking_weights,
        "winner": {
            "agent_id": str(chosen.agent.pk),
            "score": chosen.score,
            "components": chosen.components,
            "facts": chosen.facts,
        },
        "runners_up": [
            {"agent_id": str(s.agent.pk), "score": s.score, "components": s.components}
            for s in decision.ranked[:6]
            if s.agent.pk != chosen.agent.pk
        ][:5],
        "fanout": decision.stage.fanout,
    }


@dataclass
class PassResult:
    offers: list[Offer]
    tickets_seen: int
    full: bool  # the pass took as many tickets as it could: there may be more
    lost_agents: int  # chosen agents another engine claimed first
    last: tuple | None = None  # (priority, queued_at, id) of the batch's last ticket, to continue after it


def dispatch_pass(
    *, ticket_ids=None, limit: int | None = None, after=None, due_only: bool = False, wait_for_pushes: bool = True
) -> PassResult:
    """Decide, in one transaction, every queued ticket of this batch that can be decided now (see the
    module's docstring). `ticket_ids` restricts the pass to those tickets; `after` (priority, queued_at,
    id) continues a cycle after the last ticket of the previous batch; `due_only` takes only tickets not
    looked at for RETRY_SECONDS (the periodic bookkeeping of tickets nobody can take). Returns once the
    offer frames are handed to Redis, unless `wait_for_pushes` is False (a cycle decides its next batch
    while they go out, and waits at its end)."""
    with metrics.timed(metrics.engine_pass_seconds):
        result = _batch_decide(ticket_ids=ticket_ids, limit=limit or PASS_SIZE, after=after, due_only=due_only)
    if result.tickets_seen:
        metrics.engine_pass_tickets.observe(result.tickets_seen)
        metrics.engine_pass_offers.observe(len(result.offers))
    if wait_for_pushes:
        _push_loop().drain()
    return result


def _batch_decide(*, ticket_ids, limit: int, after, due_only: bool) -> PassResult:
    with transaction.atomic(durable=True):
        now = timezone.now()
        queued = Ticket.objects.filter(status=S.QUEUED)
        if ticket_ids is not None:
            queued = queued.filter(pk__in=list(ticket_ids))
        else:
            due = Q(dispatch_attempted_at__isnull=True) | Q(
                dispatch_attempted_at__lt=now - timedelta(seconds=RETRY_SECONDS)
            )
            if due_only:
                queued = queued.filter(due)
            else:
                languages = list(
                    AgentLanguage.objects.filter(
                        agent__in=dispatch_pool().filter(has_capacity=True, has_pending_offer=False)
                    )
                    .values_list("code", flat=True)
                    .distinct()
                )
                queued = queued.filter(Q(language__in=languages) | due)
        if after is not None:
            priority, queued_at, pk = after
            queued = queued.filter(
                Q(priority__lt=priority)
                | Q(priority=priority, queued_at__gt=queued_at)
                | Q(priority=priority, queued_at=queued_at, pk__gt=pk)
            )
        tickets = list(
            queued.select_for_update(of=("self",), skip_locked=True)
            .select_related("integration")
            .order_by("-priority", "queued_at", "pk")[:limit]
        )
        if not tickets:
            return PassResult(offers=[], tickets_seen=0, full=False, lost_agents=0)
        prefetch_related_objects(
            tickets,
            Prefetch("required_skills", queryset=TicketSkill.objects.select_related("skill").order_by("skill__code")),
        )
        context = Pass(now=now, tickets=tickets)
        decisions = [context.decide(ticket) for ticket in tickets]

        # The record's counts are taken before the claim, so a winner counts as eligible.
        shared_counts: dict = {}
        eligible_of: dict = {}  # requirements key -> the ids of its candidates
        counted = {}
        for d in decisions:
            if d.chosen:
                if d.key not in eligible_of:
                    eligible_of[d.key] = {s.agent.pk for s in context.ranked.get(d.key, ())}
                counted[id(d)] = _counts(d, shared=shared_counts, eligible_ids=eligible_of[d.key])

        wanted = {s.agent.pk for d in decisions for s in d.chosen}
        claimed = agents_offer_slot_claim(agent_ids=wanted, now=now)
        surge = surge_current()
        card = rate_card_in_force(at=now)
        offers, offered_tickets, lost = [], [], len(wanted) - len(claimed)
        languages = {}  # agent id -> the language their frame is written in
        for decision in decisions:
            ticket = decision.ticket
            chosen = [s for s in decision.chosen if s.agent.pk in claimed]
            if not chosen:
                continue
            estimate = pay_estimate(ticket=ticket, surge=surge, card=card)
            round_id = uuid.uuid4()
            waited = int((now - ticket.queued_at).total_seconds())
            for winner in chosen:
                languages[winner.agent.pk] = winner.agent.ui_language or "en"
                reasons = why_codes(
                    scored=winner, ticket=ticket, requirements=decision.requirements, stage=decision.stage
                )
                offers.append(
                    Offer(
                        ticket=ticket,
                        agent_id=winner.agent.pk,
                        created_at=now,
                        expires_at=now + timedelta(seconds=context.policy.offer_timeout_seconds),
                        surge=surge,
                        pay_estimate_amount=estimate.amount,
                        pay_estimate_currency=estimate.currency,
                        pay_estimate_detail=estimate.detail,
                        why_codes=reasons,
                        why=why_text(reasons, language="en"),
                        decision=_record(
                            decision,
                            winner,
                            counts=counted[id(decision)],
                            policy=context.policy,
                            waited=waited,
                            now=now,
                        ),
                        policy=context.policy,
                        round_id=round_id,
                    )
                )
            offered_tickets.append(ticket)
        rows_insert(offers)
        metrics.count_on_commit(metrics.offers_total, len(offers), outcome="offered")
        metrics.observe_on_commit(
            metrics.intake_to_offer_seconds,
            ((now - t.created_at).total_seconds() for t in offered_tickets if t.first_offered_at is None),
        )

        offered_ids = {t.pk for t in offered_tickets}
        plain_offered = [d.ticket.pk for d in decisions if d.ticket.pk in offered_ids and not d.changes]
        if plain_offered:
            moved = tickets_transition_many(
                ticket_ids=plain_offered, to=S.OFFERED, from_statuses=[S.QUEUED], now=now, dispatch_attempted_at=now
            )
            assert moved == len(plain_offered), "a locked queued ticket moved under the engine"
        plain_waiting = [d.ticket.pk for d in decisions if d.ticket.pk not in offered_ids and not d.changes]
        if plain_waiting:
            Ticket.objects.filter(pk__in=plain_waiting).update(dispatch_attempted_at=now)
        for decision in decisions:  # the few whose escalation stage moved: their own row each
            if decision.changes:
                changes = {**decision.changes, "dispatch_attempted_at": now}
                if decision.ticket.pk in offered_ids:
                    tickets_transition_many(
                        ticket_ids=[decision.ticket.pk], to=S.OFFERED, from_statuses=[S.QUEUED], now=now, **changes
                    )
                else:
                    Ticket.objects.filter(pk=decision.ticket.pk).update(**changes)

        if offers:
            for offer in offers:
                offer.ticket.status = S.OFFERED
            transaction.on_commit(
                lambda: _offers_announce(
                    [(offer, languages[offer.agent_id]) for offer in offers],
                    timeout=context.policy.offer_timeout_seconds,
                ),
                robust=True,
            )
        last = tickets[-1]
        return PassResult(
            offers=offers,
            tickets_seen=len(tickets),
            full=len(tickets) == limit,
            lost_agents=lost,
            last=(last.priority, last.queued_at, last.pk),
        )


def _offers_announce(offers: list[tuple[Offer, str]], *, timeout: int) -> None:
    """After commit: every offer frame to its agent's sockets, serialised once, and one task that
    expires the pass's offers a little after their time (the database already agrees by then)."""
    from dispatch.tasks import offers_expire_task

    tickets_with_offer_payload({offer.ticket for offer, _ in offers})  # read after the pass's locks are gone
    for offer, _ in offers:
        log.info(
            "offer made", extra={"offer_id": offer.pk, "ticket_id": offer.ticket_id, "agent_id": offer.agent_id}
        )
    frames = [
        (pushes.agent_group(offer.agent_id), json.dumps(offer_frame(offer, language=language)))
        for offer, language in offers
    ]
    _push_loop().send_all(frames)
    offers_expire_task.apply_async(args=[[str(offer.pk) for offer, _ in offers]], countdown=timeout + 0.3)


class _PushLoop:
    """One event loop kept running in a thread of the process, so the channel layer's Redis connections
    live across passes (async_to_sync would start a new loop, and new connections, for every pass)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.pid = os.getpid()
        self.pending: list = []
        threading.Thread(target=self.loop.run_forever, name="offer-pushes", daemon=True).start()

    def send_all(self, frames) -> None:
        """Hand the frames to the loop and return; `drain` waits until they are with Redis."""
        self.pending.append(asyncio.run_coroutine_threadsafe(self._send_all(frames), self.loop))

    def drain(self, timeout: float = 10.0) -> None:
        pending, self.pending = self.pending, []
        for future in pending:
            try:
                future.result(timeout=timeout)
            except Exception:  # a push is a hint: the agent's next (re)connect sends the pending offers again
                log.exception("could not push offer frames")

    @staticmethod
    async def _send_all(frames) -> None:
        layer = get_channel_layer()
        await asyncio.gather(*(layer.group_send(group, {"type": "push.text", "text": text}) for group, text in frames))


_push_loop_instance: _PushLoop | None = None


def _push_loop() -> _PushLoop:
    global _push_loop_instance
    if _push_loop_instance is None or _push_loop_instance.pid != os.getpid():  # a forked worker makes its own
        _push_loop_instance = _PushLoop()
    return _push_loop_instance


# --- Cycles and the dispatcher --------------------------------------------------------------------


def dispatch_cycle(*, due_only: bool = False, max_passes: int = 100) -> int:
    """Passes over the queue, batch after batch in queue order, until nothing more can be decided now.
    Returns the offers made."""
    offered, after = 0, None
    try:
        for _ in range(max_passes):
            result = dispatch_pass(after=after, due_only=due_only, wait_for_pushes=False)
            offered += len(result.offers)
            if result.lost_agents:
                after = None  # another engine took some of ours: look again from the head
            elif result.full:
                after = result.last
            else:
                break
    finally:
        _push_loop().drain()
    return offered


def dispatcher_run(*, stop=lambda: False, idle_seconds: float = IDLE_SECONDS) -> None:
    """The dispatcher process's loop: wait for a wake (or idle_seconds), empty the wake list, run a
    cycle. The periodic cycle also looks at tickets nobody could take (escalation steps, alerts)."""
    from django.db import close_old_connections

    client = _redis_client()
    last_due = 0.0
    while not stop():
        try:
            client.blpop(WAKE_KEY, timeout=idle_seconds)
            client.delete(WAKE_KEY)  # every wake so far is answered by the cycle that follows
        except redis.RedisError:
            log.warning("Redis unavailable; dispatching on a timer meanwhile", exc_info=True)
            time.sleep(idle_seconds)
        close_old_connections()
        try:
            dispatch_cycle()
            if time.monotonic() - last_due >= RETRY_SECONDS:
                last_due = time.monotonic()
                dispatch_cycle(due_only=True)
        except Exception:  # a failed cycle must not end the dispatcher; the next one retries
            log.exception("dispatch cycle failed")
            connection.close()
