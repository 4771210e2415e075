"""Dispatch: offers made, answered, expired and withdrawn.

Invariants kept here:
- a ticket is held by exactly one agent: accepting is a conditional UPDATE of the offer (still
  pending, not expired), of the agent (still has room) and of the ticket (still offered), in one
  transaction, with a partial unique index as the last word;
- an offer is answered once: every answer (accept, decline, expiry, withdrawal) is a conditional
  UPDATE from `pending`, so the second answer finds nothing to change;
- an agent holds at most one pending offer (the `has_pending_offer` flag is claimed conditionally);
- a queued ticket is never dropped: declines and expiries put it back in the queue, and the sweep
  retries whatever a lost task missed.
Locks: the ticket row first, then agents (tickets.locks).
"""

import logging
import uuid
from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, Q, prefetch_related_objects
from django.utils import timezone

from agents.models import Agent
from agents.presence import presence_set
from agents.services import agent_capacity_claim
from core import events as pushes
from core.errors import DomainError, NotFound
from dispatch import events
from dispatch.escalation import Stage, escalation_stages, stage_reached
from dispatch.models import DispatchPolicy, Offer, OfferStatus, SupervisorAlert, WithdrawReason
from dispatch.policy import policy_current
from dispatch.ranking import offers_per_online_hour, score_agent
from dispatch.reasons import why_codes, why_text
from dispatch.selectors import (
    EXCLUSION_REASONS,
    dispatch_pool,
    exclusion_counts,
    qualified_but_busy_exists,
    queued_tickets,
    queued_tickets_for_agent,
    shortlist,
    skill_requirements,
)
from dispatch.surge import surge_current, surge_update
from payouts.services import pay_estimate
from tickets.lifecycle import IllegalTransition, ticket_transition
from tickets.locks import ticket_lock
from tickets.models import AssignmentEnd, Ticket, TicketSkill, TicketStatus
from tickets.services import TicketHeld, assignment_end, assignment_open
from tickets.webhooks import webhook_event_record

log = logging.getLogger(__name__)

SHORTLIST_SIZE = 50
# The sweep retries a queued ticket this long after dispatch last looked at it (escalation steps are
# therefore applied within this many seconds of falling due, when no other trigger came first).
SWEEP_RETRY_SECONDS = 2
POOL_MEDIAN_CACHE_KEY = "dispatch:pool-median-offer-rate"
POOL_MEDIAN_FRESH_KEY = "dispatch:pool-median-fresh"


class OfferUnavailable(DomainError):
    def __init__(self, message: str):
        super().__init__("offer_unavailable", message, http_status=409)


# --- Triggers -------------------------------------------------------------------------------------


def ticket_dispatch_on_commit(*, ticket_id) -> None:
    """Try to offer `ticket_id` once the current transaction commits."""
    from dispatch.tasks import dispatch_ticket_task

    transaction.on_commit(lambda: dispatch_ticket_task.delay(str(ticket_id)), robust=True)


def agent_dispatch_on_commit(*, agent_id) -> None:
    """`agent_id` may have become available: look for queued work for them after commit.

    Nothing is sent when the queue is empty or the same agent was kicked within the last second, so a
    mass reconnect (a deploy, a network blip) does not flood the worker with empty searches."""
    from dispatch.tasks import dispatch_for_agent_task

    def kick():
        if queued_tickets().exists() and cache.add(f"dispatch:agent-kick:{agent_id}", 1, timeout=1):
            dispatch_for_agent_task.delay(str(agent_id))

    transaction.on_commit(kick, robust=True)


def _offer_expiry_on_commit(offer: Offer, timeout_seconds: int) -> None:
    from dispatch.tasks import offer_expire_task

    # A little after the expiry, so the database already agrees the offer is over when it runs.
    transaction.on_commit(
        lambda: offer_expire_task.apply_async(args=[str(offer.id)], countdown=timeout_seconds + 0.3), robust=True
    )


# --- Making offers --------------------------------------------------------------------------------


def _pool_median_offer_rate() -> float:
    return float(cache.get(POOL_MEDIAN_CACHE_KEY) or 0)


def _choose_stage(ticket: Ticket, stages: list[Stage], start: int, *, now):
    """The first stage from `start` (the one the wait has reached) on with someone eligible who has not
    refused the ticket; those who refused only when nobody else is, at the last stage.

    A later stage is tried early (its step skipped ahead of time) only when the current one finds
    nobody and nobody who meets its requirements is online but busy: busy qualified agents will be free
    soon, and lowering the skill level early would serve the customer worse (a VIP's or a vulnerable
    customer's extra level above all). Then the ticket waits for them, or for the step's time, unless
    an agent who refused it before is free at the current requirements."""
    skill_rows = list(ticket.required_skills.all())

    def requirements_of(stage: Stage):
        return skill_requirements(ticket=ticket, skill_relaxation=stage.skill_relaxation, rows=skill_rows)

    def candidates_for(stage: Stage, requirements, *, include_refusers: bool):
        return shortlist(
            ticket=ticket,
            requirements=requirements,
            include_refusers=include_refusers,
            size=max(SHORTLIST_SIZE, 10 * stage.fanout),
            now=now,
        )

    tried: set[tuple] = set()
    for stage in stages[start:]:
        requirements = requirements_of(stage)
        if tuple(requirements) in tried:
            continue  # same requirements as a stage that found nobody: nobody here either
        tried.add(tuple(requirements))
        candidates = candidates_for(stage, requirements, include_refusers=False)
        if candidates:
            return stage, requirements, candidates, False
        if qualified_but_busy_exists(ticket=ticket, requirements=requirements):
            # No lowering of the level while they are busy; someone who refused before is eligible,
            # since nobody else is.
            candidates = candidates_for(stage, requirements, include_refusers=True)
            return (stage, requirements, candidates, True) if candidates else (stages[start], None, [], False)
    last = stages[-1]
    requirements = requirements_of(last)
    candidates = candidates_for(last, requirements, include_refusers=True)
    if candidates:
        return last, requirements, candidates, True
    return last, None, [], False


def _stage_changes(ticket: Ticket, stage: Stage, *, time_stage: Stage, now) -> dict:
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


def supervisor_alert_raise(*, kind: str, message: str, ticket=None, agent=None) -> SupervisorAlert | None:
    """Raise an alert once per (kind, ticket); supervisors' boards get it live."""
    try:
        with transaction.atomic():
            alert = SupervisorAlert.objects.create(kind=kind, ticket=ticket, agent=agent, message=message)
    except IntegrityError:
        return None
    pushes.send_to_supervisors_on_commit(
        {
            "type": "alert",
            "id": str(alert.id),
            "kind": kind,
            "message": message,
            "ticket_id": str(ticket.id) if ticket else None,
        }
    )
    return alert


def _claim_agents(scored, *, fanout: int, now) -> list:
    """Claim the offer slots of the `fanout` best-scored agents still free.

    Each round claims the best candidates not yet tried, in pk order so that two dispatchers
    claiming overlapping agents lock them in the same order; an agent taken meanwhile is replaced by
    the next best in the following round.
    """
    remaining = list(scored)
    claimed = []
    while len(claimed) < fanout and remaining:
        wanted, remaining = remaining[: fanout - len(claimed)], remaining[fanout - len(claimed) :]
        for candidate in sorted(wanted, key=lambda s: s.agent.pk):
            won = Agent.objects.filter(
                pk=candidate.agent.pk, has_pending_offer=False, status=Agent.Status.ACTIVE
            ).update(has_pending_offer=True, last_offer_at=now, offers_received=F("offers_received") + 1)
            if won:
                claimed.append(candidate)
    return sorted(claimed, key=lambda s: -s.score)


def ticket_dispatch(*, ticket_id) -> list[Offer]:
    """Offer a queued ticket to the best eligible agent(s) under the policy in force.

    Returns the offers made (none when the ticket is not queued, is being dispatched by someone
    else, or nobody is eligible: it then stays queued for the next trigger or sweep).
    """

    with transaction.atomic(durable=True):
        ticket = ticket_lock(ticket_id=ticket_id, skip_locked=True)
        if ticket is None or ticket.status != TicketStatus.QUEUED:
            return []
        now = timezone.now()
        # Read once, used by the shortlist, the pay estimate and the offer frame.
        prefetch_related_objects(
            [ticket],
            Prefetch("required_skills", queryset=TicketSkill.objects.select_related("skill").order_by("skill__code")),
        )
        policy = policy_current()
        stages = escalation_stages(policy)
        waited = (now - ticket.queued_at).total_seconds()
        reached = max((s["stage"] for s in ticket.escalation_steps_done), default=0)
        time_stage = stages[stage_reached(stages, waited_seconds=waited)]
        start = max(time_stage.number, reached)
        stage, requirements, candidates, included_refusers = _choose_stage(ticket, stages, start, now=now)
        # With nobody eligible anywhere, keep the stage the wait has reached: skipping is for finding
        # someone, and there is nobody to find.
        ticket_changes = {
            "dispatch_attempted_at": now,
            **_stage_changes(ticket, stage if candidates else stages[start], time_stage=time_stage, now=now),
        }
        median_rate = _pool_median_offer_rate()
        scored = sorted(
            (
                score_agent(
                    agent=agent,
                    skill_levels={r.skill_id: getattr(agent, f"level_{r.skill_id}") for r in requirements},
                    requirements=requirements,
                    weights=policy.ranking_weights,
                    now=now,
                    pool_median_rate=median_rate,
                    on_shift=agent.on_shift,
                )
                for agent in candidates
            ),
            key=lambda s: (-s.score, str(s.agent.pk)),
        )
        # Counted before the claim, so the winner is among the eligible, not "busy with another offer".
        excluded = (
            exclusion_counts(ticket=ticket, requirements=requirements, include_refusers=included_refusers)
            if candidates
            else None
        )
        claimed = _claim_agents(scored, fanout=stage.fanout, now=now)
        if not claimed:
            Ticket.objects.filter(pk=ticket.pk).update(**ticket_changes)
            return []
        surge = surge_current()
        estimate = pay_estimate(ticket=ticket, surge=surge)
        round_id = uuid.uuid4()
        offers = []
        for chosen in claimed:
            decision = {
                "policy_version": policy.version,
                "decided_at": now.isoformat(),
                "stage": stage.as_dict(),
                "waited_seconds": int(waited),
                "requirements": [{"skill": r.code, "level": r.level} for r in requirements],
                "pool": {
                    "online": excluded["online_pool"],
                    "eligible": excluded["eligible"],
                    "counted_at": excluded["counted_at"],
                    "shortlisted": len(candidates),
                    "shortlist_rule": f"the {SHORTLIST_SIZE} eligible agents waiting longest since their last offer",
                },
                "excluded": {k: excluded[k] for k in EXCLUSION_REASONS},
                "previous_refusers_included": included_refusers,
                "weights": policy.ranking_weights,
                "winner": {
                    "agent_id": str(chosen.agent.pk),
                    "score": chosen.score,
                    "components": chosen.components,
                    "facts": chosen.facts,
                },
                "runners_up": [
                    {"agent_id": str(s.agent.pk), "score": s.score, "components": s.components}
                    for s in scored[:6]
                    if s.agent.pk != chosen.agent.pk
                ][:5],
                "fanout": stage.fanout,
            }
            offers.append(
                Offer(
                    ticket=ticket,
                    agent=chosen.agent,
                    created_at=now,
                    expires_at=now + timedelta(seconds=policy.offer_timeout_seconds),
                    surge=surge,
                    pay_estimate_amount=estimate.amount,
                    pay_estimate_currency=estimate.currency,
                    pay_estimate_detail=estimate.detail,
                    why_codes=(
                        codes := why_codes(scored=chosen, ticket=ticket, requirements=requirements, stage=stage)
                    ),
                    why=why_text(codes, language="en"),
                    decision=decision,
                    policy=policy,
                    round_id=round_id,
                )
            )
        Offer.objects.bulk_create(offers)
        ticket_transition(ticket=ticket, to=TicketStatus.OFFERED, from_statuses=[TicketStatus.QUEUED], **ticket_changes)
        for offer in offers:
            offer.ticket = ticket
            events.offer_push(offer)
            _offer_expiry_on_commit(offer, policy.offer_timeout_seconds)
        return offers


def dispatch_for_agent(*, agent_id, limit: int = 5) -> int:
    """An agent became available: offer them (or whoever ranks best) the most urgent work they fit."""
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None or agent.status != Agent.Status.ACTIVE or agent.has_pending_offer or not agent.has_capacity:
        return 0
    if not queued_tickets().exists():
        return 0
    offered = 0
    for ticket_id in queued_tickets_for_agent(agent=agent).values_list("pk", flat=True)[:limit]:
        offered += len(ticket_dispatch(ticket_id=ticket_id))
        agent.refresh_from_db(fields=["has_pending_offer", "active_tickets", "max_concurrent"])
        if agent.has_pending_offer or agent.active_tickets >= agent.max_concurrent:
            break
    return offered


def dispatch_queue(*, limit: int = 50, not_tried_for_seconds: int = 0) -> int:
    """Go through the queue in order (priority, then queue time). Returns offers made.

    With `not_tried_for_seconds`, only tickets dispatch has not looked at for that long: the sweep
    catches what the event-driven triggers missed without redoing what they just did."""
    tickets = queued_tickets()
    if not_tried_for_seconds:
        cutoff = timezone.now() - timedelta(seconds=not_tried_for_seconds)
        tickets = tickets.filter(Q(dispatch_attempted_at__isnull=True) | Q(dispatch_attempted_at__lt=cutoff))
    offered = 0
    for ticket_id in tickets.values_list("pk", flat=True)[:limit]:
        offered += len(ticket_dispatch(ticket_id=ticket_id))
    return offered


# --- Answering offers -----------------------------------------------------------------------------


def _offer_of_agent(*, offer_id, agent: Agent) -> Offer:
    offer = Offer.objects.filter(pk=offer_id, agent=agent).first()
    if offer is None:
        # Another agent's offer is "not found" too: we do not confirm it exists.
        raise NotFound("No such offer for you.")
    return offer


def _unavailable_message(offer: Offer) -> str:
    if offer.status == OfferStatus.ACCEPTED:
        return "You accepted this offer already."
    if offer.status == OfferStatus.WITHDRAWN and offer.withdraw_reason == WithdrawReason.TAKEN:
        return "Another agent took this one."
    if offer.status == OfferStatus.WITHDRAWN and offer.withdraw_reason == WithdrawReason.CANCELLED:
        return "The customer left, so the offer was withdrawn."
    if offer.status == OfferStatus.DECLINED:
        return "You declined this offer."
    return "This offer has expired."


def offer_accept(*, offer_id, agent: Agent) -> Offer:
    """Accept an offer: the agent now holds the ticket, and nobody else ever will."""
    offer = _offer_of_agent(offer_id=offer_id, agent=agent)
    try:
        with transaction.atomic(durable=True):
            ticket = ticket_lock(ticket_id=offer.ticket_id)
            now = timezone.now()
            claimed = Offer.objects.filter(pk=offer.pk, status=OfferStatus.PENDING, expires_at__gt=now).update(
                status=OfferStatus.ACCEPTED, answered_at=now
            )
            if not claimed:
                offer.refresh_from_db()
                if offer.status == OfferStatus.PENDING:  # past expires_at, the expiry task has not run yet
                    offer.status = OfferStatus.EXPIRED
                raise OfferUnavailable(_unavailable_message(offer))
            has_room = agent_capacity_claim(agent_id=agent.pk, has_pending_offer=False, missed_offers_in_row=0)
            if not has_room:
                if not Agent.objects.filter(pk=agent.pk, status=Agent.Status.ACTIVE).exists():
                    raise DomainError("not_active", "Your account is not active, so you cannot take new tickets.")
                raise DomainError("at_capacity", "You are at your limit of open tickets; resolve one first.")
            try:
                ticket_transition(
                    ticket=ticket,
                    to=TicketStatus.ASSIGNED,
                    from_statuses=[TicketStatus.OFFERED],
                    now=now,
                    assigned_agent=agent,
                )
                assignment_open(ticket=ticket, agent_id=agent.pk, now=now, offer=offer)
            except (IllegalTransition, TicketHeld) as exc:
                raise OfferUnavailable(
                    "The customer left, so the offer was withdrawn."
                    if getattr(exc, "current", None) == TicketStatus.CANCELLED
                    else "Another agent took this one."
                ) from exc
            _withdraw_pending(ticket=ticket, reason=WithdrawReason.TAKEN)
            offer.status, offer.answered_at = OfferStatus.ACCEPTED, now
            pushes.send_to_agent_on_commit(
                agent.pk, {"type": "assigned", "offer_id": str(offer.pk), "ticket_id": str(ticket.pk)}
            )
            webhook_event_record(
                ticket=ticket, event="ticket.assigned", data={"agent": {"display_name": agent.display_name}}
            )
            return offer
    except IntegrityError as exc:
        # The partial unique index refused a second accepted offer in the round.
        raise OfferUnavailable("Another agent took this one.") from exc


def _release_offer_slot(agent_id) -> None:
    Agent.objects.filter(pk=agent_id).update(has_pending_offer=False)


def _requeue_if_unoffered(ticket: Ticket) -> None:
    """Back to the queue when the ticket's last pending offer ended without an accept."""
    if Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).exists():
        return
    try:
        ticket_transition(ticket=ticket, to=TicketStatus.QUEUED, from_statuses=[TicketStatus.OFFERED])
    except IllegalTransition:
        return  # assigned or cancelled meanwhile: nothing to requeue
    ticket_dispatch_on_commit(ticket_id=ticket.pk)


def offer_decline(*, offer_id, agent: Agent, reason: str = "") -> Offer:
    offer = _offer_of_agent(offer_id=offer_id, agent=agent)
    with transaction.atomic(durable=True):
        ticket = ticket_lock(ticket_id=offer.ticket_id)
        now = timezone.now()
        declined = Offer.objects.filter(pk=offer.pk, status=OfferStatus.PENDING, expires_at__gt=now).update(
            status=OfferStatus.DECLINED, answered_at=now, decline_reason=(reason or "")[:200]
        )
        if not declined:
            offer.refresh_from_db()
            raise OfferUnavailable(_unavailable_message(offer))
        Agent.objects.filter(pk=agent.pk).update(has_pending_offer=False, missed_offers_in_row=0)
        _requeue_if_unoffered(ticket)
        agent_dispatch_on_commit(agent_id=agent.pk)
        offer.refresh_from_db()
        return offer


def offer_mark_delivered(*, offer_id, agent: Agent) -> bool:
    """The browser acknowledged the offer frame. Only delivered offers that expire count as missed."""
    return bool(
        Offer.objects.filter(pk=offer_id, agent=agent, delivered_at__isnull=True).update(delivered_at=timezone.now())
    )


def offer_expire(*, offer_id) -> bool:
    """Expire a pending offer whose time is up; the ticket goes back to the queue. Safe to run twice."""
    offer = Offer.objects.filter(pk=offer_id, status=OfferStatus.PENDING).select_related("agent").first()
    if offer is None:
        return False  # answered already: the usual case, settled without a transaction
    with transaction.atomic(durable=True):
        ticket = ticket_lock(ticket_id=offer.ticket_id)
        now = timezone.now()
        expired = Offer.objects.filter(pk=offer.pk, status=OfferStatus.PENDING, expires_at__lte=now).update(
            status=OfferStatus.EXPIRED, answered_at=now
        )
        if not expired:
            return False
        offer.refresh_from_db()
        _release_offer_slot(offer.agent_id)
        events.offer_withdrawn_push(agent_id=offer.agent_id, offer_id=offer.pk, reason=WithdrawReason.EXPIRED)
        if offer.delivered_at is not None:
            _count_missed_offer(offer.agent)
        _requeue_if_unoffered(ticket)
        return True


def _count_missed_offer(agent: Agent) -> None:

    Agent.objects.filter(pk=agent.pk).update(missed_offers_in_row=F("missed_offers_in_row") + 1)
    agent.refresh_from_db()
    limit = policy_current().max_missed_offers_in_row
    if limit and agent.missed_offers_in_row >= limit and agent.presence == Agent.Presence.ONLINE:
        Agent.objects.filter(pk=agent.pk).update(missed_offers_in_row=0)
        presence_set(
            agent=agent,
            status=Agent.Presence.AWAY,
            reason=f"You let {limit} offers in a row expire, so we set you to away and customers do not wait "
            "on you. Go online again when you are ready.",
        )


def _withdraw_pending(*, ticket: Ticket, reason: str) -> int:
    pending = list(Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).values_list("pk", "agent_id"))
    if not pending:
        return 0
    withdrawn = Offer.objects.filter(pk__in=[pk for pk, _ in pending], status=OfferStatus.PENDING).update(
        status=OfferStatus.WITHDRAWN, withdraw_reason=reason, answered_at=timezone.now()
    )
    for offer_id, agent_id in pending:
        _release_offer_slot(agent_id)
        events.offer_withdrawn_push(agent_id=agent_id, offer_id=offer_id, reason=reason)
        agent_dispatch_on_commit(agent_id=agent_id)
    return withdrawn


def offers_withdraw_for_ticket(*, ticket: Ticket, reason: str) -> int:
    """Withdraw every pending offer of `ticket` (the customer left: reason "cancelled")."""
    with transaction.atomic():
        ticket_lock(ticket_id=ticket.pk)
        return _withdraw_pending(ticket=ticket, reason=reason)


# --- Sweeps ---------------------------------------------------------------------------------------


def offers_expire_overdue(*, limit: int = 500) -> int:
    """Expire pending offers a lost or late task did not expire."""
    overdue = Offer.objects.filter(status=OfferStatus.PENDING, expires_at__lte=timezone.now()).values_list(
        "pk", flat=True
    )
    return sum(offer_expire(offer_id=offer_id) for offer_id in list(overdue[:limit]))


def tickets_requeue_orphaned() -> int:
    """Offered tickets left with no pending offer (a worker died mid-way) go back to the queue."""
    from django.db.models import Exists, OuterRef

    orphaned = Ticket.objects.filter(status=TicketStatus.OFFERED).exclude(
        Exists(Offer.objects.filter(ticket=OuterRef("pk"), status=OfferStatus.PENDING))
    )
    count = 0
    for ticket_id in list(orphaned.values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            ticket = ticket_lock(ticket_id=ticket_id)
            if ticket is not None and ticket.status == TicketStatus.OFFERED:
                _requeue_if_unoffered(ticket)
                count += 1
    return count


def ticket_return_to_queue(*, ticket: Ticket, reason: str, now=None):
    """Take an assigned ticket from its holder and put it back in the queue at its original place
    (queued_at is kept, so it goes ahead of newer work); any eligible agent can then accept it through
    a normal offer. The holder's assignment ends (`reason`, an AssignmentEnd) and their slot is free.
    Returns the previous holder's id. Call with the ticket row locked; raises IllegalTransition when
    the ticket is not assigned."""
    now = now or timezone.now()
    holder_id = ticket.assigned_agent_id
    ticket_transition(
        ticket=ticket,
        to=TicketStatus.QUEUED,
        from_statuses=[TicketStatus.ASSIGNED],
        now=now,
        assigned_agent=None,
        requeue_count=F("requeue_count") + 1,
    )
    assignment_end(ticket=ticket, reason=reason, now=now)
    ticket_dispatch_on_commit(ticket_id=ticket.pk)
    return holder_id


def tickets_requeue_for_absent_agents(*, policy: DispatchPolicy) -> int:
    """Tickets of agents without a socket for longer than `requeue_after_seconds` go back to the queue,
    keeping their original place (queued_at), so they are served before newer work."""
    cutoff = timezone.now() - timedelta(seconds=policy.requeue_after_seconds)
    absent = Agent.objects.filter(open_sockets=0, disconnected_at__lt=cutoff, active_tickets__gt=0)
    requeued = 0
    for agent in absent:
        for ticket_id in Ticket.objects.filter(assigned_agent=agent, status=TicketStatus.ASSIGNED).values_list(
            "pk", flat=True
        ):
            with transaction.atomic():
                ticket = ticket_lock(ticket_id=ticket_id)
                if ticket is None or ticket.status != TicketStatus.ASSIGNED or ticket.assigned_agent_id != agent.pk:
                    continue
                ticket_return_to_queue(ticket=ticket, reason=AssignmentEnd.AGENT_GONE)
                pushes.send_to_agent_on_commit(
                    agent.pk,
                    {
                        "type": "ticket_requeued",
                        "ticket_id": str(ticket.pk),
                        "reason": f"You were disconnected for over {policy.requeue_after_seconds} s, so the "
                        "customer went back to the queue.",
                    },
                )
                supervisor_alert_raise(
                    kind="requeued_agent_gone",
                    ticket=ticket,
                    agent=agent,
                    message=f"Ticket {ticket.external_id} went back to the queue: {agent.display_name} has been "
                    f"disconnected for over {policy.requeue_after_seconds} s.",
                )
                requeued += 1
    return requeued


def pool_median_offer_rate_update() -> float:
    """The online pool's median offers per online hour, cached for the fairness score."""
    from statistics import median

    now = timezone.now()
    rates = [
        offers_per_online_hour(agent, now=now)
        for agent in dispatch_pool().only("offers_received", "online_seconds", "presence", "presence_changed_at")[
            :20000
        ]
    ]
    value = median(rates) if rates else 0.0
    cache.set(POOL_MEDIAN_CACHE_KEY, value, timeout=300)
    return value


def dispatch_sweep() -> dict:
    """The periodic safety net: expire overdue offers, requeue orphans, serve the queue, update surge."""

    policy = policy_current()
    result = {
        "expired": offers_expire_overdue(),
        "orphans_requeued": tickets_requeue_orphaned(),
    }
    result["surge"] = str(surge_update(policy=policy))
    # The median moves slowly and scanning the whole online pool is not free: every 30 s is enough.
    if cache.add(POOL_MEDIAN_FRESH_KEY, 1, timeout=30):
        result["median_offer_rate"] = pool_median_offer_rate_update()
    # Also when nobody is free: dispatching walks the escalation steps, so alerts still fire on time.
    result["offered"] = dispatch_queue(not_tried_for_seconds=SWEEP_RETRY_SECONDS)
    return result
