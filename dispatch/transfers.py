"""Warm transfers: the agent who holds a ticket asks a named colleague, or the best free agent of a
skill/language pool, to take the customer over (CONTRACT.md "Transfer, notes, canned responses").

Invariants kept here:
- the sender holds the ticket until someone accepts: the ticket stays `assigned` to them and the
  offers a transfer makes are ordinary offers (Offer.transfer) the engine never touches, since it only
  decides queued tickets;
- at most one pending transfer per ticket (a partial unique index refuses a second);
- a transfer is answered once: accept, decline, expiry, withdrawal and "the ticket moved on" are each a
  conditional UPDATE from `pending`, under the ticket's row lock (tickets.locks), so a transfer
  accepted while the customer cancels ends one way only;
- the receiver's capacity and offer slot are claimed exactly as for an engine offer (conditional
  UPDATEs, agents.services), and "exactly one holder" stays the open assignment's unique constraint.

A pool transfer offers to the best-scored free agents of the pool (dispatch.ranking, the policy's
fan-out at once); when they decline or let it expire the next ones are asked, until the policy's
`transfer_timeout_seconds`. Nobody free right now: the dispatch sweep asks again every few seconds.
"""

import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from agents.models import Agent, AgentLanguage, AgentSkill, Skill
from agents.services import agents_offer_slot_claim
from core import events as pushes
from core.audit import audit_record
from core.errors import DomainError, InvalidInput, NotFound
from dispatch import events
from dispatch.engine import POOL_MEDIAN_CACHE_KEY, dispatch_wake_on_commit
from dispatch.models import TRANSFER_NOTE_MAX_CHARS, Offer, OfferStatus, Transfer, TransferStatus, WithdrawReason
from dispatch.policy import policy_current
from dispatch.ranking import score_agent
from dispatch.reasons import why_text
from dispatch.selectors import SHORTLIST_ORDER, SkillRequirement, dispatch_pool
from dispatch.surge import surge_current
from payouts.services import pay_estimate, rate_card_in_force, transfer_part_pay
from tickets.models import Ticket, TicketSkill, TicketStatus
from tickets.services import TicketHeld, ticket_holder_change
from tickets.webhooks import webhook_event_record

SHORTLIST_SIZE = 20


class TransferUnavailable(DomainError):
    """The transfer behind an offer is over (withdrawn, expired, the ticket moved on)."""

    def __init__(self, message: str):
        super().__init__("offer_unavailable", message, http_status=409)


# ---------------------------------------------------------------- who may receive it


def _requirements(*, ticket: Ticket, skill_codes: list[str]) -> list[SkillRequirement]:
    """The pool's skills, each at the level the ticket asks of it (after relaxation), else level 1."""
    skills = {skill.code: skill for skill in Skill.objects.filter(code__in=skill_codes)}
    unknown = [code for code in skill_codes if code not in skills]
    if unknown:
        raise InvalidInput(
            {"to": {"skills": [_("Unknown skill: %(skills)s.") % {"skills": ", ".join(sorted(unknown))}]}}
        )
    asked = dict(TicketSkill.objects.filter(ticket=ticket).values_list("skill__code", "min_level"))
    return [
        SkillRequirement(
            skills[code].pk, code, max(1, asked.get(code, 1) - ticket.skill_relaxation) if code in asked else 1
        )
        for code in sorted(set(skill_codes))
    ]


def _qualified(agents: QuerySet[Agent], *, language: str, requirements) -> QuerySet[Agent]:
    agents = agents.filter(Exists(AgentLanguage.objects.filter(agent=OuterRef("pk"), code=language)))
    for r in requirements:
        agents = agents.filter(
            Exists(AgentSkill.objects.filter(agent=OuterRef("pk"), skill_id=r.skill_id, level__gte=r.level))
        )
    return agents


def _describe_pool(language: str, requirements) -> str:
    skills = ", ".join(f"{r.code} level {r.level}" for r in requirements)
    return f"language '{language}'" + (f" with {skills}" if skills else "")


def named_agent_problems(*, ticket: Ticket, agent: Agent, sender: Agent) -> list[str]:
    """Why `agent` cannot be offered `sender`'s ticket now (empty: they can): the contract's offer rule
    (active, online, room, the ticket's language, every required skill at the level in force) and free
    for an offer (none pending)."""
    from dispatch.selectors import skill_requirements

    if agent.pk == sender.pk:
        return [_("You cannot transfer a ticket to yourself.")]
    problems = []
    name = agent.display_name
    if agent.status != Agent.Status.ACTIVE:
        problems.append(_("%(agent)s is not active.") % {"agent": name})
    if not dispatch_pool().filter(pk=agent.pk).exists():
        problems.append(_("%(agent)s is not online (or on a break, or taking no new work).") % {"agent": name})
    if agent.active_tickets >= agent.max_concurrent:
        problems.append(_("%(agent)s has no room for another ticket now.") % {"agent": name})
    if agent.has_pending_offer:
        problems.append(_("%(agent)s is answering another offer right now; try again in a moment.") % {"agent": name})
    requirements = skill_requirements(ticket=ticket, skill_relaxation=ticket.skill_relaxation)
    if not _qualified(Agent.objects.filter(pk=agent.pk), language=ticket.language, requirements=[]).exists():
        problems.append(_("%(agent)s does not speak '%(language)s'.") % {"agent": name, "language": ticket.language})
    levels = dict(AgentSkill.objects.filter(agent=agent).values_list("skill__code", "level"))
    for r in requirements:
        if levels.get(r.code, 0) < r.level:
            problems.append(
                _("%(agent)s lacks %(skill)s at level %(level)s.") % {"agent": name, "skill": r.code, "level": r.level}
            )
    return problems


# ---------------------------------------------------------------- asking for a transfer


def transfer_create(*, ticket: Ticket, sender: Agent, to: dict, note: str, now=None) -> Transfer:
    """`sender` asks to pass `ticket` on (to {"agent_id"} or {"skills", "language"}) with `note`. The
    sender keeps the ticket; the target (or the pool's best free agents) get an offer now, or, for a
    pool nobody in is free right now, as soon as someone is (the sweep). Refused, with nothing changed:
    a ticket the sender does not hold (404), a ticket not open (409), a second pending transfer (409),
    to themselves, an unknown agent or skill, a note over TRANSFER_NOTE_MAX_CHARS (400), an agent who
    cannot take it now or a pool nobody could ever take (409). Call with the ticket row locked."""
    now = now or timezone.now()
    if ticket.assigned_agent_id != sender.pk or ticket.status not in (TicketStatus.ASSIGNED,):
        if ticket.assigned_agent_id == sender.pk:
            raise DomainError(
                "ticket_not_open",
                _("The ticket is %(status)s: only a ticket you are serving can be transferred.")
                % {"status": ticket.status},
            )
        raise NotFound(_("No such ticket among yours."))
    note = (note or "").strip()
    if len(note) > TRANSFER_NOTE_MAX_CHARS:
        raise InvalidInput(
            {"note": [_("A transfer note is at most %(max)s characters.") % {"max": TRANSFER_NOTE_MAX_CHARS}]}
        )
    if Transfer.objects.filter(ticket=ticket, status=TransferStatus.PENDING).exists():
        raise DomainError(
            "transfer_pending", _("This ticket has a transfer waiting for an answer already; withdraw it first.")
        )
    policy = policy_current()
    fields = {"ticket": ticket, "from_agent": sender, "note": note, "created_at": now}
    if "agent_id" in to:
        target = Agent.objects.filter(pk=to["agent_id"]).first()
        if target is None:
            raise InvalidInput({"to": {"agent_id": [_("No such agent.")]}})
        if target.pk == sender.pk:
            raise InvalidInput({"to": {"agent_id": [_("You cannot transfer a ticket to yourself.")]}})
        problems = named_agent_problems(ticket=ticket, agent=target, sender=sender)
        if problems:
            raise DomainError("agent_ineligible", " ".join(problems), fields={"to": {"agent_id": problems}})
        fields.update(to_agent=target, to_language=ticket.language)
    else:
        language = to.get("language") or ticket.language
        requirements = _requirements(ticket=ticket, skill_codes=list(to.get("skills") or []))
        ever = _qualified(
            Agent.objects.filter(status=Agent.Status.ACTIVE).exclude(pk=sender.pk),
            language=language,
            requirements=requirements,
        )
        if not ever.exists():
            pool = _describe_pool(language, requirements)
            raise DomainError(
                "pool_empty",
                _("Nobody could ever take this transfer: no active colleague has %(pool)s.") % {"pool": pool},
                fields={"to": [_("No active colleague has %(pool)s.") % {"pool": pool}]},
            )
        fields.update(to_language=language, to_skills=[r.code for r in requirements])
    try:
        with transaction.atomic():
            transfer = Transfer.objects.create(
                **fields, expires_at=now + timedelta(seconds=policy.transfer_timeout_seconds)
            )
    except IntegrityError as exc:  # a second request at the same moment: the partial unique index
        raise DomainError(
            "transfer_pending", _("This ticket has a transfer waiting for an answer already; withdraw it first.")
        ) from exc
    offered = transfer_offer_next(transfer=transfer, ticket=ticket, now=now)
    if transfer.to_agent_id is not None and not offered:
        # Between the check and the claim the colleague got another offer: refuse rather than wait.
        raise DomainError(
            "agent_ineligible",
            _("%(agent)s is answering another offer right now; try again in a moment.")
            % {"agent": transfer.to_agent.display_name},
        )
    audit_record(
        actor=sender.user,
        action="ticket.transfer_requested",
        subject=ticket,
        reason=note,
        data={
            "transfer_id": str(transfer.pk),
            "from_agent": str(sender.pk),
            "to_agent": str(transfer.to_agent_id or ""),
            "to_language": transfer.to_language,
            "to_skills": transfer.to_skills,
        },
    )
    return transfer


def _free_pool(transfer: Transfer) -> QuerySet[Agent]:
    """The pool's agents free for an offer now, minus the sender and whoever refused this transfer."""
    refused = Offer.objects.filter(transfer=transfer).exclude(status=OfferStatus.PENDING).values("agent_id")
    requirements = _requirements(ticket=transfer.ticket, skill_codes=transfer.to_skills)
    agents = (
        dispatch_pool()
        .filter(has_capacity=True, has_pending_offer=False)
        .exclude(pk=transfer.from_agent_id)
        .exclude(pk__in=refused)
    )
    return _qualified(agents, language=transfer.to_language, requirements=requirements)


def _pool_best(transfer: Transfer, *, now, policy) -> list:
    """The pool's free agents, best first: the engine's shortlist (waiting longest since their last
    offer) scored by the policy's ranking weights."""
    from django.core.cache import cache

    requirements = _requirements(ticket=transfer.ticket, skill_codes=transfer.to_skills)
    candidates = list(_free_pool(transfer).order_by(*SHORTLIST_ORDER)[:SHORTLIST_SIZE])
    levels = {
        (agent_id, skill_id): level
        for agent_id, skill_id, level in AgentSkill.objects.filter(agent__in=candidates).values_list(
            "agent_id", "skill_id", "level"
        )
    }
    median = float(cache.get(POOL_MEDIAN_CACHE_KEY) or 0)
    scored = [
        score_agent(
            agent=agent,
            skill_levels={r.skill_id: levels.get((agent.pk, r.skill_id), 0) for r in requirements},
            requirements=requirements,
            weights=policy.ranking_weights,
            now=now,
            pool_median_rate=median,
        )
        for agent in candidates
    ]
    return sorted(scored, key=lambda s: (-s.score, str(s.agent.pk)))


def transfer_offer_next(*, transfer: Transfer, ticket: Ticket, now=None) -> list[Offer]:
    """Offer a pending transfer to its named agent, or to the pool's best free agents (the policy's
    fan-out), claiming each one's offer slot. Returns the offers made (none: nobody free now)."""
    now = now or timezone.now()
    policy = policy_current()
    if transfer.to_agent_id is not None:
        ranked = [transfer.to_agent_id]
        scores = {}
    else:
        best = _pool_best(transfer, now=now, policy=policy)
        ranked = [s.agent.pk for s in best]
        scores = {s.agent.pk: s for s in best}
    if not ranked:
        return []
    wanted = ranked[: max(1, policy.offer_fanout)] if transfer.to_agent_id is None else ranked
    claimed = agents_offer_slot_claim(agent_ids=set(wanted), now=now)
    chosen = [agent_id for agent_id in wanted if agent_id in claimed]
    if not chosen:
        return []
    expires_at = transfer.expires_at
    if transfer.to_agent_id is None:
        expires_at = min(expires_at, now + timedelta(seconds=policy.offer_timeout_seconds))
    surge = surge_current()
    estimate = pay_estimate(ticket=ticket, surge=surge, card=rate_card_in_force(at=now))
    sender_name = transfer.from_agent.display_name
    reasons = [
        {"code": "transfer", "params": {"sender": sender_name}},
        {"code": "language", "params": {"language": transfer.to_language}},
    ]
    round_id = uuid.uuid4()
    offers = [
        Offer(
            ticket=ticket,
            agent_id=agent_id,
            transfer=transfer,
            created_at=now,
            expires_at=expires_at,
            surge=surge,
            pay_estimate_amount=estimate.amount,
            pay_estimate_currency=estimate.currency,
            pay_estimate_detail=estimate.detail,
            why_codes=reasons,
            why=why_text(reasons, language="en"),
            decision={
                "kind": "transfer",
                "policy_version": policy.version,
                "decided_at": now.isoformat(),
                "transfer_id": str(transfer.pk),
                "from_agent": str(transfer.from_agent_id),
                "to": {"agent_id": str(transfer.to_agent_id)}
                if transfer.to_agent_id
                else {"language": transfer.to_language, "skills": transfer.to_skills},
                "winner": {
                    "agent_id": str(agent_id),
                    "score": scores[agent_id].score if agent_id in scores else None,
                    "components": scores[agent_id].components if agent_id in scores else None,
                },
                "fanout": len(chosen),
            },
            policy=policy,
            round_id=round_id,
        )
        for agent_id in chosen
    ]
    Offer.objects.bulk_create(offers)
    for offer in offers:
        offer.transfer = transfer
        events.offer_push(offer)
    _expire_on_time(offers, expires_at=expires_at, now=now)
    return offers


def _expire_on_time(offers, *, expires_at, now) -> None:
    from dispatch.tasks import offers_expire_task

    countdown = max(0.0, (expires_at - now).total_seconds()) + 0.3
    ids = [str(offer.pk) for offer in offers]
    transaction.on_commit(lambda: offers_expire_task.apply_async(args=[ids], countdown=countdown), robust=True)


# ---------------------------------------------------------------- how a transfer ends


def _tell_sender(transfer: Transfer, *, status: str, reason) -> None:
    """The sender is told in their own language why they keep the customer."""
    sender = transfer.from_agent
    with override(sender.ui_language or "en"):
        text = str(reason())
    pushes.send_to_agent_on_commit(
        sender.pk,
        {
            "type": "transfer_ended",
            "transfer_id": str(transfer.pk),
            "ticket_id": str(transfer.ticket_id),
            "status": status,
            "reason": text,
        },
    )


def _withdraw_offers(transfer: Transfer, *, reason: str, now) -> int:
    pending = list(Offer.objects.filter(transfer=transfer, status=OfferStatus.PENDING).values_list("pk", "agent_id"))
    if not pending:
        return 0
    Offer.objects.filter(pk__in=[pk for pk, _ in pending], status=OfferStatus.PENDING).update(
        status=OfferStatus.WITHDRAWN, withdraw_reason=reason, answered_at=now
    )
    Agent.objects.filter(pk__in=[agent_id for _, agent_id in pending]).update(has_pending_offer=False)
    for offer_id, agent_id in pending:
        events.offer_withdrawn_push(agent_id=agent_id, offer_id=offer_id, reason=reason)
    dispatch_wake_on_commit()
    return len(pending)


def transfer_end(*, transfer: Transfer, status: str, reason_en: str, reason, now=None, offer_reason=None) -> bool:
    """End a pending transfer without an accept (`status`: declined, expired, withdrawn, cancelled):
    its open offers are withdrawn and the sender, who keeps the customer, is told `reason` (a lazy
    translatable text). Once: a conditional UPDATE from pending. Call with the ticket row locked."""
    now = now or timezone.now()
    ended = Transfer.objects.filter(pk=transfer.pk, status=TransferStatus.PENDING).update(
        status=status, ended_at=now, end_reason=reason_en[:300]
    )
    if not ended:
        return False
    transfer.status, transfer.ended_at, transfer.end_reason = status, now, reason_en[:300]
    _withdraw_offers(
        transfer,
        reason=offer_reason
        or (WithdrawReason.EXPIRED if status == TransferStatus.EXPIRED else WithdrawReason.CANCELLED),
        now=now,
    )
    _tell_sender(transfer, status=status, reason=reason)
    audit_record(
        actor=None,
        action=f"ticket.transfer_{status}",
        subject=transfer.ticket,
        reason=reason_en,
        data={"transfer_id": str(transfer.pk)},
    )
    return True


def _expired_reason(transfer: Transfer):
    seconds = int((transfer.expires_at - transfer.created_at).total_seconds())
    return (
        f"Nobody accepted your transfer within {seconds} s, so you keep the customer.",
        lambda: (
            _("Nobody accepted your transfer within %(seconds)s s, so you keep the customer.") % {"seconds": seconds}
        ),
    )


def transfer_withdraw(*, ticket: Ticket, sender: Agent, now=None) -> Transfer:
    """The sender takes back their pending transfer (DELETE on the transfer URL): its offers vanish
    from the receivers' screens. 404 when they have none pending on a ticket they hold. Call with the
    ticket row locked."""
    transfer = (
        Transfer.objects.select_related("from_agent", "ticket")
        .filter(ticket=ticket, from_agent=sender, status=TransferStatus.PENDING)
        .first()
    )
    if transfer is None or ticket.assigned_agent_id != sender.pk:
        raise NotFound(_("You have no transfer of this ticket waiting for an answer."))
    transfer_end(
        transfer=transfer,
        status=TransferStatus.WITHDRAWN,
        reason_en="You withdrew the transfer; you keep the customer.",
        reason=lambda: _("You withdrew the transfer; you keep the customer."),
        now=now,
    )
    return transfer


def transfers_end_for_ticket(*, ticket: Ticket, now=None) -> int:
    """The ticket moved on otherwise (the customer left, it was resolved, handed back, requeued or
    reassigned): its pending transfer ends as cancelled. Call with the ticket row locked."""
    count = 0
    for transfer in Transfer.objects.select_related("from_agent", "ticket").filter(
        ticket=ticket, status=TransferStatus.PENDING
    ):
        count += transfer_end(
            transfer=transfer,
            status=TransferStatus.CANCELLED,
            reason_en="The ticket moved on before anyone accepted the transfer.",
            reason=lambda: _("The ticket moved on before anyone accepted the transfer."),
            now=now,
        )
    return count


def transfer_offer_ended(*, offer: Offer, ticket: Ticket, declined: bool, now=None) -> None:
    """One of a transfer's offers was declined or expired. While others of it are pending, nothing;
    a named agent's answer ends the transfer; a pool's next free agents are asked until time is up.
    Call with the ticket row locked."""
    now = now or timezone.now()
    transfer = Transfer.objects.select_related("from_agent", "to_agent", "ticket").get(pk=offer.transfer_id)
    if transfer.status != TransferStatus.PENDING:
        return
    if Offer.objects.filter(transfer=transfer, status=OfferStatus.PENDING).exists():
        return
    if transfer.to_agent_id is not None:
        name = transfer.to_agent.display_name
        if declined:
            transfer_end(
                transfer=transfer,
                status=TransferStatus.DECLINED,
                reason_en=f"{name} declined the transfer, so you keep the customer.",
                reason=lambda: _("%(agent)s declined the transfer, so you keep the customer.") % {"agent": name},
                now=now,
            )
        else:
            en, text = _expired_reason(transfer)
            transfer_end(transfer=transfer, status=TransferStatus.EXPIRED, reason_en=en, reason=text, now=now)
        return
    if now >= transfer.expires_at:
        en, text = _expired_reason(transfer)
        transfer_end(transfer=transfer, status=TransferStatus.EXPIRED, reason_en=en, reason=text, now=now)
        return
    transfer_offer_next(transfer=transfer, ticket=ticket, now=now)


def transfer_accept_locked(*, offer: Offer, agent: Agent, ticket: Ticket, now) -> Transfer:
    """The receiver accepted a transfer's offer (dispatch.services.offer_accept claimed the offer and
    the receiver's capacity): the transfer is claimed from pending, the ticket moves from the sender
    to the receiver (tickets.services.ticket_holder_change), the sender gets their slot back, is paid
    for their own part (payouts.services.transfer_part_pay) and is told. The ticket keeps its priority
    and original queue time. Raises TransferUnavailable when the transfer or the ticket moved on."""
    claimed = Transfer.objects.filter(pk=offer.transfer_id, status=TransferStatus.PENDING).update(
        status=TransferStatus.ACCEPTED, accepted_by=agent, ended_at=now
    )
    transfer = Transfer.objects.select_related("from_agent").get(pk=offer.transfer_id)
    if not claimed:
        raise TransferUnavailable(
            {
                TransferStatus.ACCEPTED: "Another agent took this one.",
                TransferStatus.WITHDRAWN: "Your colleague withdrew the transfer.",
                TransferStatus.EXPIRED: "This transfer has expired.",
            }.get(transfer.status, "The customer left or the ticket moved on, so the transfer was withdrawn.")
        )
    if ticket.status != TicketStatus.ASSIGNED or ticket.assigned_agent_id != transfer.from_agent_id:
        raise TransferUnavailable("The customer left or the ticket moved on, so the transfer was withdrawn.")
    try:
        ended, _opened = ticket_holder_change(
            ticket=ticket, from_agent_id=transfer.from_agent_id, to_agent_id=agent.pk, now=now, offer=offer
        )
    except TicketHeld as exc:
        raise TransferUnavailable("The ticket moved on, so the transfer was withdrawn.") from exc
    if ended is not None:
        transfer_part_pay(assignment=ended)
    pushes.send_to_agent_on_commit(
        transfer.from_agent_id,
        {"type": "transferred", "ticket_id": str(ticket.pk), "transfer_id": str(transfer.pk)},
    )
    dispatch_wake_on_commit()  # the sender has room again
    webhook_event_record(ticket=ticket, event="ticket.assigned", data={"agent": {"display_name": agent.display_name}})
    audit_record(
        actor=agent.user,
        action="ticket.transfer_accepted",
        subject=ticket,
        data={"transfer_id": str(transfer.pk), "from_agent": str(transfer.from_agent_id), "to_agent": str(agent.pk)},
    )
    return transfer


# ---------------------------------------------------------------- the sweep


def transfers_sweep(*, now=None, limit: int = 200) -> dict:
    """Expire pending transfers whose time is up, and offer the pool transfers nobody was free for to
    whoever is free now. Part of the dispatch sweep (every few seconds)."""
    from tickets.locks import ticket_lock

    now = now or timezone.now()
    result = {"transfers_expired": 0, "transfers_offered": 0}
    waiting = Transfer.objects.filter(status=TransferStatus.PENDING).filter(
        Q(expires_at__lte=now)
        | (Q(to_agent__isnull=True) & ~Exists(Offer.objects.filter(transfer=OuterRef("pk"), status="pending")))
    )
    for transfer_id, ticket_id in list(waiting.values_list("pk", "ticket_id")[:limit]):
        with transaction.atomic():
            ticket = ticket_lock(ticket_id=ticket_id)
            transfer = Transfer.objects.select_related("from_agent", "ticket").filter(pk=transfer_id).first()
            if ticket is None or transfer is None or transfer.status != TransferStatus.PENDING:
                continue
            if transfer.expires_at <= now:
                en, text = _expired_reason(transfer)
                result["transfers_expired"] += transfer_end(
                    transfer=transfer, status=TransferStatus.EXPIRED, reason_en=en, reason=text, now=now
                )
            elif not Offer.objects.filter(transfer=transfer, status=OfferStatus.PENDING).exists():
                result["transfers_offered"] += len(transfer_offer_next(transfer=transfer, ticket=ticket, now=now))
    return result
