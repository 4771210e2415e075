"""Dispatch: offers answered, expired and withdrawn; tickets returned to the queue; the sweeps. Offers
are made by the engine (dispatch.engine), which every trigger here wakes.

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
from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from agents.models import Agent
from agents.presence import presence_set
from agents.services import agent_capacity_claim
from core import events as pushes
from core import metrics
from core.errors import DomainError, NotFound
from dispatch import events
from dispatch.alerts import supervisor_alert_raise
from dispatch.engine import POOL_MEDIAN_CACHE_KEY, dispatch_cycle, dispatch_pass, dispatch_wake_on_commit
from dispatch.models import DispatchPolicy, Offer, OfferStatus, WithdrawReason
from dispatch.policy import policy_current
from dispatch.ranking import offers_per_online_hour
from dispatch.selectors import (
    dispatch_pool,
)
from dispatch.surge import surge_update
from dispatch.transfers import transfer_accept_locked, transfer_offer_ended, transfers_end_for_ticket, transfers_sweep
from tickets.lifecycle import IllegalTransition, ticket_transition
from tickets.locks import ticket_lock
from tickets.models import AssignmentEnd, Ticket, TicketStatus
from tickets.services import TicketHeld, assignment_end, assignment_open
from tickets.webhooks import webhook_event_record

log = logging.getLogger(__name__)

POOL_MEDIAN_FRESH_KEY = "dispatch:pool-median-fresh"


class OfferUnavailable(DomainError):
    def __init__(self, message: str):
        super().__init__("offer_unavailable", message, http_status=409)


# --- Triggers -------------------------------------------------------------------------------------


def ticket_dispatch_on_commit(*, ticket_id) -> None:
    """`ticket_id` joined (or went back to) the queue: the engine looks once the transaction commits."""
    dispatch_wake_on_commit()


def agent_dispatch_on_commit(*, agent_id) -> None:
    """`agent_id` may have become available: the engine looks for queued work once the transaction
    commits (one pass answers every wake that came before it)."""
    dispatch_wake_on_commit()


def ticket_dispatch(*, ticket_id) -> list[Offer]:
    """Offer one queued ticket now, if anyone is eligible (an engine pass over that ticket alone).
    Returns the offers made."""
    return dispatch_pass(ticket_ids=[ticket_id]).offers


def dispatch_queue() -> int:
    """Offer every queued ticket that can be offered now (an engine cycle). Returns the offers made."""
    return dispatch_cycle()


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


def _offer_ids(offer: Offer) -> dict:
    """What a log line about `offer` names (core.log_context)."""
    return {"offer_id": offer.pk, "ticket_id": offer.ticket_id, "agent_id": offer.agent_id}


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
            if offer.transfer_id is not None:
                # A colleague's warm transfer: the ticket moves from them (dispatch.transfers).
                transfer_accept_locked(offer=offer, agent=agent, ticket=ticket, now=now)
            else:
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
                webhook_event_record(
                    ticket=ticket, event="ticket.assigned", data={"agent": {"display_name": agent.display_name}}
                )
            _withdraw_pending(ticket=ticket, reason=WithdrawReason.TAKEN)
            offer.status, offer.answered_at = OfferStatus.ACCEPTED, now
            metrics.count_on_commit(metrics.offers_total, outcome="accepted")
            log.info("offer accepted", extra=_offer_ids(offer))
            metrics.observe_on_commit(
                metrics.offer_answer_seconds, [(now - offer.created_at).total_seconds()], outcome="accepted"
            )
            pushes.send_to_agent_on_commit(
                agent.pk, {"type": "assigned", "offer_id": str(offer.pk), "ticket_id": str(ticket.pk)}
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
        metrics.count_on_commit(metrics.offers_total, outcome="declined")
        log.info("offer declined", extra=_offer_ids(offer))
        metrics.observe_on_commit(
            metrics.offer_answer_seconds, [(now - offer.created_at).total_seconds()], outcome="declined"
        )
        Agent.objects.filter(pk=agent.pk).update(has_pending_offer=False, missed_offers_in_row=0)
        if offer.transfer_id is not None:
            transfer_offer_ended(offer=offer, ticket=ticket, declined=True, now=now)
        _requeue_if_unoffered(ticket)
        agent_dispatch_on_commit(agent_id=agent.pk)
        offer.refresh_from_db()
        return offer


def offer_mark_delivered(*, offer_id, agent: Agent) -> bool:
    """The browser acknowledged the offer frame. Only delivered offers that expire count as missed.

    Acknowledging one's own offer again changes nothing (a reconnecting tab acknowledges what it is sent);
    an offer that is not the agent's, or none at all, is refused as unavailable, not ignored: every frame a
    socket cannot act on gets an `error` frame (without saying whose the offer is)."""
    marked = Offer.objects.filter(pk=offer_id, agent=agent, delivered_at__isnull=True).update(
        delivered_at=timezone.now()
    )
    if not marked and not Offer.objects.filter(pk=offer_id, agent=agent).exists():
        raise OfferUnavailable("No such offer for you.")
    return bool(marked)


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
        metrics.count_on_commit(metrics.offers_total, outcome="expired")
        log.info("offer expired", extra=_offer_ids(offer))
        offer.refresh_from_db()
        _release_offer_slot(offer.agent_id)
        events.offer_withdrawn_push(agent_id=offer.agent_id, offer_id=offer.pk, reason=WithdrawReason.EXPIRED)
        if offer.delivered_at is not None and offer.transfer_id is None:
            _count_missed_offer(offer.agent)
        if offer.transfer_id is not None:
            transfer_offer_ended(offer=offer, ticket=ticket, declined=False, now=now)
        _requeue_if_unoffered(ticket)
        return True


def _count_missed_offer(agent: Agent) -> None:

    Agent.objects.filter(pk=agent.pk).update(missed_offers_in_row=F("missed_offers_in_row") + 1)
    agent.refresh_from_db()
    limit = policy_current().max_missed_offers_in_row
    if limit and agent.missed_offers_in_row >= limit and agent.presence == Agent.Presence.ONLINE:
        Agent.objects.filter(pk=agent.pk).update(missed_offers_in_row=0)
        with override(agent.ui_language or "en"):  # the agent reads it, in the language they chose
            reason = _(
                "You let %(limit)s offers in a row expire, so we set you to away and customers do not wait "
                "on you. Go online again when you are ready."
            ) % {"limit": limit}
        presence_set(agent=agent, status=Agent.Presence.AWAY, reason=reason)


def _withdraw_pending(*, ticket: Ticket, reason: str) -> int:
    pending = list(Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).values_list("pk", "agent_id"))
    if not pending:
        return 0
    withdrawn = Offer.objects.filter(pk__in=[pk for pk, _ in pending], status=OfferStatus.PENDING).update(
        status=OfferStatus.WITHDRAWN, withdraw_reason=reason, answered_at=timezone.now()
    )
    metrics.count_on_commit(metrics.offers_total, withdrawn, outcome="withdrawn")
    for offer_id, agent_id in pending:
        log.info(
            "offer withdrawn (%s)", reason, extra={"offer_id": offer_id, "ticket_id": ticket.pk, "agent_id": agent_id}
        )
    for offer_id, agent_id in pending:
        _release_offer_slot(agent_id)
        events.offer_withdrawn_push(agent_id=agent_id, offer_id=offer_id, reason=reason)
        agent_dispatch_on_commit(agent_id=agent_id)
    return withdrawn


def offers_withdraw_for_ticket(*, ticket: Ticket, reason: str) -> int:
    """Withdraw every pending offer of `ticket` (the customer left: reason "cancelled"); a pending
    transfer of it ends too (the ticket moved on)."""
    with transaction.atomic():
        ticket_lock(ticket_id=ticket.pk)
        transfers_end_for_ticket(ticket=ticket)
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
    transfers_end_for_ticket(ticket=ticket, now=now)
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
    metrics.count_on_commit(metrics.sweep_repairs_total, requeued, kind="tickets_requeued_agent_gone")
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
        **transfers_sweep(),
    }
    for kind in ("expired", "orphans_requeued"):
        metrics.count_on_commit(metrics.sweep_repairs_total, result[kind], kind=f"offers_{kind}")
    result["surge"] = str(surge_update(policy=policy))
    # The median moves slowly and scanning the whole online pool is not free: every 30 s is enough.
    if cache.add(POOL_MEDIAN_FRESH_KEY, 1, timeout=30):
        result["median_offer_rate"] = pool_median_offer_rate_update()
    # The safety net of the dispatcher process: a cycle over what can be offered now, and the
    # bookkeeping of tickets nobody can take (escalation steps, alerts on time).
    result["offered"] = dispatch_cycle() + dispatch_cycle(due_only=True)
    return result
