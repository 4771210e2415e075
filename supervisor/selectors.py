"""Reads for the supervisor's console: the live board, a ticket's timeline, the pool, quality, coverage.

Every number is computed from the database (the truth), in a bounded number of queries, and is
portable between PostgreSQL and SQLite (durations are computed in Python over bounded windows).

Whatever is shown as parts of a whole adds up to that whole: each agent is in exactly one state, each
waiting ticket in one language and one set of skills, each ticket created in the last hour either met
the SLA, breached it or is not decided yet. The definitions are in BOARD_DEFINITIONS, shown on the
pages beside each figure and sent in the JSON as "definitions".
"""

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from agents.models import Agent, AgentLanguage, AgentSkill, Shift
from agents.selectors import agent_list
from core.audit import audit_actor_name
from core.models import AuditEntry
from dispatch.alerts import alerts_for_board
from dispatch.escalation import escalation_stages
from dispatch.models import Offer, OfferStatus
from dispatch.policy import policy_current
from dispatch.reasons import why_text
from dispatch.selectors import EXCLUSION_REASONS, exclusion_counts, skill_requirements
from dispatch.surge import surge_current
from supervisor.labels import NO_SKILL, human_label
from supervisor.staffing import coverage_plan, hour_start
from tickets.models import Message, Ticket, TicketSkill, TicketStatus, WebhookDelivery, WebhookDeliveryStatus
from tickets.selectors import message_payload, ticket_notes

HOUR = timedelta(hours=1)
WAITING = (TicketStatus.QUEUED, TicketStatus.OFFERED)
BOARD_CACHE_KEY = "dispatch:supervisor-board"
BOARD_CACHE_SECONDS = 1


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


def skill_set(codes) -> str:
    """The set of skills a ticket needs as one label ("payments + refunds"), so that a breakdown by
    skills counts each ticket once and its rows add up to the total."""
    return " + ".join(sorted(codes)) or NO_SKILL


def _waiting_block(now: datetime) -> dict:
    waiting = list(Ticket.objects.filter(status__in=WAITING).values_list("pk", "status", "language", "queued_at"))
    by_status = Counter(status for _, status, _, _ in waiting)
    by_language = Counter(language for _, _, language, _ in waiting)
    skills_of = defaultdict(list)
    for ticket_id, code in TicketSkill.objects.filter(ticket__status__in=WAITING).values_list(
        "ticket_id", "skill__code"
    ):
        skills_of[ticket_id].append(code)
    by_skill = Counter(skill_set(skills_of.get(ticket_id, ())) for ticket_id, _, _, _ in waiting)
    oldest = min((queued_at for _, _, _, queued_at in waiting), default=None)
    return {
        "total": len(waiting),
        "queued": by_status[TicketStatus.QUEUED],
        "offered": by_status[TicketStatus.OFFERED],
        "by_language": dict(sorted(by_language.items())),
        "by_skill": dict(sorted(by_skill.items())),
        "oldest_queued_at": oldest.isoformat() if oldest else None,
        "longest_wait_seconds": _seconds(now - oldest) if oldest else 0,
    }


def _waits_block(now: datetime) -> dict:
    waits = [
        (assigned_at - queued_at).total_seconds()
        for queued_at, assigned_at in Ticket.objects.filter(assigned_at__gte=now - HOUR).values_list(
            "queued_at", "assigned_at"
        )
    ]
    median = percentile(waits, 0.5)
    p90 = percentile(waits, 0.9)
    return {
        "assigned": len(waits),
        "median_seconds": round(median, 1) if median is not None else None,
        "p90_seconds": round(p90, 1) if p90 is not None else None,
    }


def _sla_block(now: datetime, policy) -> dict:
    """Each ticket created in the last hour in exactly one bucket: met, one of three kinds of breach, or
    not known yet (still waiting within the target, or closed unassigned before reaching it)."""
    target = timedelta(seconds=policy.sla_target_seconds)
    buckets = Counter()
    for status, created_at, assigned_at, closed_at in Ticket.objects.filter(created_at__gte=now - HOUR).values_list(
        "status", "created_at", "assigned_at", "closed_at"
    ):
        if assigned_at is not None:
            buckets["met" if assigned_at - created_at <= target else "assigned_late"] += 1
        elif status in WAITING:
            buckets["waiting_beyond_target" if now - created_at > target else "not_yet_known"] += 1
        elif closed_at is not None and closed_at - created_at > target:
            buckets["left_after_target"] += 1  # the customer left after waiting beyond the target
        else:
            buckets["not_yet_known"] += 1
    met = buckets["met"]
    breaches = buckets["assigned_late"] + buckets["waiting_beyond_target"] + buckets["left_after_target"]
    known = met + breaches
    ratio = met / known if known else None
    target_ratio = float(policy.sla_target_ratio)
    return {
        "target_seconds": policy.sla_target_seconds,
        "target_ratio": target_ratio,
        "created": known + buckets["not_yet_known"],
        "met": met,
        "breaches": breaches,
        "assigned_late": buckets["assigned_late"],
        "waiting_beyond_target": buckets["waiting_beyond_target"],
        "left_after_target": buckets["left_after_target"],
        "not_yet_known": buckets["not_yet_known"],
        "ratio": round(ratio, 3) if ratio is not None else None,
        "on_target": ratio is None or ratio >= target_ratio,
    }


# Every agent is in exactly one of these states; the board counts them, the pool page labels each agent
# with one. "Online" is the first three together: active, chose online, at least one socket open (the
# dispatchable pool of dispatch.selectors). An agent at capacity who still has an offer pending (one made
# before a capacity change) counts as "offer pending": the offer is what they are busy with.
_ACTIVE = Q(status=Agent.Status.ACTIVE)
_ONLINE = _ACTIVE & Q(presence=Agent.Presence.ONLINE, open_sockets__gt=0)
AGENT_STATES: dict[str, Q] = {
    "offer_pending": _ONLINE & Q(has_pending_offer=True),
    "busy": _ONLINE & Q(has_pending_offer=False, has_capacity=False),
    "available": _ONLINE & Q(has_pending_offer=False, has_capacity=True),
    "reconnecting": _ACTIVE & Q(presence=Agent.Presence.ONLINE, open_sockets=0),
    "away": _ACTIVE & Q(presence=Agent.Presence.AWAY),
    "on_break": _ACTIVE & Q(presence=Agent.Presence.BREAK),
    "no_new_work": _ACTIVE & Q(presence=Agent.Presence.NO_NEW_WORK),
    "offline_console_open": _ACTIVE & Q(presence=Agent.Presence.OFFLINE, open_sockets__gt=0),
    "offline": _ACTIVE & Q(presence=Agent.Presence.OFFLINE, open_sockets=0),
    "pending_approval": Q(status=Agent.Status.PENDING),
    "suspended": Q(status=Agent.Status.SUSPENDED),
}
ONLINE_STATES = ("offer_pending", "busy", "available")
ACTIVE_STATES = (*ONLINE_STATES, "reconnecting", "away", "on_break", "no_new_work", "offline_console_open", "offline")
AGENT_STATE_LABELS = {
    "offer_pending": _("with an offer pending"),
    "busy": _("at capacity (busy)"),
    "available": _("free"),
    "reconnecting": _("reconnecting"),
    "away": _("away"),
    "on_break": _("on a break"),
    "no_new_work": _("finishing, no new work"),
    "offline_console_open": _("offline with the console open"),
    "offline": _("offline"),
    "pending_approval": _("waiting for approval"),
    "suspended": _("suspended"),
}


def agent_state_expression() -> Case:
    """The agent's state (a key of AGENT_STATES) as an SQL expression, for annotating agent rows."""
    return Case(*[When(q, then=Value(name)) for name, q in AGENT_STATES.items()], default=Value(""))


def agent_state_counts(agents: QuerySet[Agent] | None = None) -> dict:
    """How many agents are in each state, and the wholes they add up to, in one query."""
    agents = Agent.objects.all() if agents is None else agents
    counts = agents.aggregate(**{name: Count("pk", filter=q) for name, q in AGENT_STATES.items()})
    counts["online"] = sum(counts[name] for name in ONLINE_STATES)
    counts["active"] = sum(counts[name] for name in ACTIVE_STATES)
    counts["registered"] = counts["active"] + counts["pending_approval"] + counts["suspended"]
    return counts


def _offers_block(now: datetime) -> dict:
    ended = Offer.objects.filter(answered_at__gte=now - HOUR).aggregate(
        accepted=Count("pk", filter=Q(status=OfferStatus.ACCEPTED)),
        declined=Count("pk", filter=Q(status=OfferStatus.DECLINED)),
        expired=Count("pk", filter=Q(status=OfferStatus.EXPIRED)),
        withdrawn=Count("pk", filter=Q(status=OfferStatus.WITHDRAWN)),
    )
    ended["ended"] = sum(ended.values())
    ended["pending"] = Offer.objects.filter(status=OfferStatus.PENDING).count()
    return ended


BOARD_DEFINITIONS = {
    "waiting": {
        "total": _("Tickets not assigned yet: in the queue plus on offer, each counted once."),
        "queued": _("In the queue, waiting for an offer."),
        "offered": _("Offered to an agent who has not answered yet."),
        "by_language": _("Waiting tickets by the customer's language; the rows add up to the waiting total."),
        "by_skill": _(
            "Waiting tickets by the set of skills they need (a ticket needing two skills counts once, under "
            "both); the rows add up to the waiting total."
        ),
        "longest_wait_seconds": _("Since the oldest place in the queue (a requeued ticket keeps its place)."),
    },
    "wait_last_hour": {
        "assigned": _("Tickets assigned in the last hour."),
        "median_seconds": _(
            "Half of the tickets assigned in the last hour waited this long or less (assigned − queued)."
        ),
        "p90_seconds": _("Nine in ten of the tickets assigned in the last hour waited this long or less."),
    },
    "sla": {
        "target_seconds": _("The policy's target: assigned within this many seconds of arriving."),
        "target_ratio": _("The policy's target share of tickets assigned within the target time."),
        "created": _("Tickets created in the last hour: met + breaches + not known yet."),
        "met": _("Assigned within the target time."),
        "breaches": _("Assigned late + still waiting beyond the target + closed unassigned after waiting beyond it."),
        "assigned_late": _("Assigned, but after the target time."),
        "waiting_beyond_target": _("Still waiting, longer than the target time already."),
        "left_after_target": _("Closed without an agent (customer left, handed back) after waiting beyond the target."),
        "not_yet_known": _(
            "Neither met nor breached yet: still waiting within the target, or closed unassigned before it."
        ),
        "ratio": _("Met ÷ (met + breaches); tickets not known yet are left out."),
    },
    "agents": {
        "online": _(
            "Active, chose online, with at least one console open: with an offer pending + at capacity + free."
        ),
        "offer_pending": _("Online with an offer waiting for their answer; offered no other ticket meanwhile."),
        "busy": _("Online, holding as many tickets as they may at once (their capacity), no offer pending."),
        "available": _(
            "Online with room for another ticket and no offer pending: the next offer can go to them if "
            "language and skills fit."
        ),
        "reconnecting": _(
            "Chose online but no console is connected (a lost connection, within the grace period); "
            "offered nothing until they are back."
        ),
        "away": _("Active, chose away: offered nothing."),
        "on_break": _("Active, on a break they chose (with a reason and a planned end): offered nothing."),
        "no_new_work": _("Active, finishing the tickets they hold and asking for no new work: offered nothing."),
        "offline_console_open": _("Active, chose offline but a console is still open: offered nothing."),
        "offline": _("Active, offline, no console open."),
        "active": _(
            "Allowed to work: online + reconnecting + away + on a break + no new work + offline (console open or not)."
        ),
        "pending_approval": _("Registered, waiting for a supervisor's approval."),
        "suspended": _("Suspended by a supervisor: offered nothing until reinstated."),
        "registered": _("Every agent account: active + waiting for approval + suspended."),
    },
    "offers_last_hour": {
        "ended": _("Offers that ended in the last hour: accepted + declined + expired + withdrawn."),
        "accepted": _("Accepted by the agent."),
        "declined": _("Declined by the agent."),
        "expired": _("Not answered in time."),
        "withdrawn": _("Withdrawn before an answer: another agent took the ticket, or the customer left."),
        "pending": _("Open right now, waiting for an answer; not part of the ended total."),
    },
    "surge": _("The pay multiplier in force for new offers."),
    "alerts_open": _("Alerts no supervisor has acknowledged yet."),
    "alerts_acknowledged": _("Acknowledged in the last 24 hours, with who and when."),
}


def _resolved(value):
    return {key: _resolved(item) for key, item in value.items()} if isinstance(value, dict) else str(value)


def board_definitions() -> dict:
    """BOARD_DEFINITIONS in the active language, as plain strings."""
    return _resolved(BOARD_DEFINITIONS)


BOARD_AGENTS_LIMIT = 200
BOARD_WAITING_LIMIT = 10
# The board's list shows the agents who can work now first, the offline last.
_STATE_ORDER = {name: position for position, name in enumerate(ACTIVE_STATES)}


def board_agents(*, now: datetime) -> list[dict]:
    """Active agents (online first), each with their state, presence and since when, tickets held out of
    their capacity, languages, skills and the offers made to them today (UTC). Four queries however
    many agents; at most BOARD_AGENTS_LIMIT rows."""
    agents = list(
        Agent.objects.filter(status=Agent.Status.ACTIVE)
        .annotate(state=agent_state_expression())
        .order_by(
            Case(*[When(state=name, then=Value(position)) for name, position in _STATE_ORDER.items()]),
            "display_name",
        )
        .values(
            "pk",
            "display_name",
            "state",
            "presence",
            "presence_changed_at",
            "active_tickets",
            "max_concurrent",
        )[:BOARD_AGENTS_LIMIT]
    )
    ids = [agent["pk"] for agent in agents]
    languages = defaultdict(list)
    for agent_id, code in (
        AgentLanguage.objects.filter(agent_id__in=ids).order_by("code").values_list("agent_id", "code")
    ):
        languages[agent_id].append(code)
    skills = defaultdict(dict)
    for agent_id, code, level in AgentSkill.objects.filter(agent_id__in=ids).values_list(
        "agent_id", "skill__code", "level"
    ):
        skills[agent_id][code] = level
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    offers_today = dict(
        Offer.objects.filter(agent_id__in=ids, created_at__gte=midnight)
        .values("agent_id")
        .annotate(n=Count("pk"))
        .values_list("agent_id", "n")
    )
    return [
        {
            "id": str(agent["pk"]),
            "name": agent["display_name"],
            "state": agent["state"],
            "presence": agent["presence"],
            "in_state_since": agent["presence_changed_at"].isoformat() if agent["presence_changed_at"] else None,
            "tickets_held": agent["active_tickets"],
            "capacity": agent["max_concurrent"],
            "languages": languages.get(agent["pk"], []),
            "skills": skills.get(agent["pk"], {}),
            "offers_today": offers_today.get(agent["pk"], 0),
        }
        for agent in agents
    ]


def _why_still_waiting(ticket: Ticket, *, stages, rows, now: datetime, shared: dict) -> dict:
    """Why nobody has taken `ticket` yet, from the same pool counts a decision records, as data (the page
    words it in the reader's language): the online pool, the eligible and each exclusion, which add up.
    Tickets asking for the same language and skills at the same stage share one count (`shared`)."""
    if ticket.status == TicketStatus.OFFERED:
        return {"kind": "on_offer"}
    waited = (now - ticket.queued_at).total_seconds()
    reached = [s for s in stages if s.after_seconds <= waited]
    stage = reached[-1] if reached else stages[0]  # a board computed for a moment before the ticket arrived
    requirements = skill_requirements(ticket=ticket, skill_relaxation=stage.skill_relaxation, rows=rows)
    key = (ticket.language, tuple(requirements))
    if ticket.first_offered_at is not None or key not in shared:  # refusals are the ticket's own
        counts = exclusion_counts(ticket=ticket, requirements=requirements)
        if ticket.first_offered_at is None:
            shared[key] = counts
    else:
        counts = shared[key]
    if counts["online_pool"] == 0:
        kind = "nobody_online"
    elif counts["eligible"]:
        kind = "eligible"
    else:
        kind = "nobody_eligible"
    return {
        "kind": kind,
        "online": counts["online_pool"],
        "eligible": counts["eligible"],
        "excluded": {code: counts[code] for code in EXCLUSION_REASONS if counts.get(code)},
    }


def board_waiting_tickets(*, now: datetime, policy) -> list[dict]:
    """The tickets waiting longest (at most BOARD_WAITING_LIMIT), each with its wait and why nobody has
    taken it yet. Two queries, plus one pool count per distinct (language, skills) asked and one per
    ticket that was offered and refused before."""
    tickets = list(Ticket.objects.filter(status__in=WAITING).order_by("queued_at")[:BOARD_WAITING_LIMIT])
    rows_of = defaultdict(list)
    for row in TicketSkill.objects.filter(ticket__in=tickets).select_related("skill").order_by("skill__code"):
        rows_of[row.ticket_id].append(row)
    stages = escalation_stages(policy)
    shared: dict = {}
    return [
        {
            "id": str(ticket.pk),
            "external_id": ticket.external_id,
            "status": ticket.status,
            "language": ticket.language,
            "skills": [row.skill.code for row in rows_of.get(ticket.pk, [])],
            "priority": ticket.priority,
            "queued_at": ticket.queued_at.isoformat(),
            "why_waiting": _why_still_waiting(
                ticket, stages=stages, rows=rows_of.get(ticket.pk, []), now=now, shared=shared
            ),
        }
        for ticket in tickets
    ]


def board_snapshot(*, now: datetime | None = None) -> dict:
    """The live board's numbers (GET /api/v1/dashboard/ and the `board` frame of /ws/supervisor/), with
    the definition of each figure under "definitions"."""
    now = now or timezone.now()
    policy = policy_current()
    return {
        "generated_at": now.isoformat(),
        "waiting": _waiting_block(now),
        "wait_last_hour": _waits_block(now),
        "sla": _sla_block(now, policy),
        "agents": agent_state_counts(),
        "offers_last_hour": _offers_block(now),
        "surge": f"{surge_current():.2f}",
        **alerts_for_board(now=now),
        "policy_version": policy.version,
        "agents_list": board_agents(now=now),
        "waiting_list": board_waiting_tickets(now=now, policy=policy),
        "definitions": board_definitions(),
    }


def board_snapshot_cached() -> dict:
    """The board, computed at most once a second however many supervisors watch it."""
    snapshot = cache.get(BOARD_CACHE_KEY)
    if snapshot is None:
        snapshot = board_snapshot()
        cache.set(BOARD_CACHE_KEY, snapshot, timeout=BOARD_CACHE_SECONDS)
    return snapshot


def board_fingerprint(snapshot: dict) -> tuple:
    """What must differ for a push: everything but the clock (the page ticks the longest wait itself)."""
    waiting = {k: v for k, v in snapshot["waiting"].items() if k != "longest_wait_seconds"}
    rest = {k: v for k, v in snapshot.items() if k not in ("generated_at", "waiting")}
    return (repr(waiting), repr(rest))


# ---------------------------------------------------------------- tickets


def supervisor_tickets(*, status: str = "", search: str = "", limit: int = 100) -> QuerySet[Ticket]:
    tickets = Ticket.objects.select_related("assigned_agent").order_by("-created_at")
    if status == "open":
        tickets = tickets.filter(status__in=[TicketStatus.QUEUED, TicketStatus.OFFERED, TicketStatus.ASSIGNED])
    elif status:
        tickets = tickets.filter(status=status)
    if search:
        tickets = tickets.filter(Q(external_id__icontains=search) | Q(summary__icontains=search))
    return tickets[:limit]


def _offer_entry(offer: Offer) -> dict:
    return {
        "offer_id": str(offer.pk),
        "agent": {"id": str(offer.agent_id), "display_name": offer.agent.display_name},
        "status": offer.status,
        "expires_at": offer.expires_at.isoformat(),
        "answered_at": offer.answered_at.isoformat() if offer.answered_at else None,
        "delivered_at": offer.delivered_at.isoformat() if offer.delivered_at else None,
        "decline_reason": offer.decline_reason,
        "withdraw_reason": offer.withdraw_reason,
        "why": offer.why,
        "decision": offer.decision,
        "pay_estimate": {"amount": f"{offer.pay_estimate_amount:.2f}", "currency": offer.pay_estimate_currency},
    }


EXCLUSION_LABELS = {
    "wrong_language": _("do not speak the customer's language"),
    "missing_skill": _("lack a required skill at the level asked"),
    "at_capacity": _("already hold as many tickets as they may"),
    "busy_with_another_offer": _("have another offer open"),
    "refused_before": _("declined this ticket or let its offer expire before"),
}
COMPONENT_LABELS = {
    "skill_fit": _("Skill fit"),
    "quality": _("Quality"),
    "fairness": _("Fairness"),
    "shift": _("On a booked shift"),
}
COMPONENT_HELP = {
    "skill_fit": _("the agent's mean level over the skills asked, divided by 5"),
    "quality": _("customer rating, smoothed so a few ratings do not decide, from 1–5 to 0–1"),
    "fairness": _("half time since the last offer, half share of offers against the pool's median"),
    "shift": _("1 when the agent is on a shift they booked"),
}


def decision_record(*, decision: dict, names: dict) -> dict | None:
    """An offer's decision record as the rows of a table: the online pool, each exclusion (the rows add up
    to the pool: eligible + every exclusion = online), the winner's score by component with its weight
    (weight × component = points; the points add up to the score), the runners-up, the stage and the
    policy version. `names` maps agent ids to display names."""
    if not decision:
        return None
    pool = decision.get("pool", {})
    excluded = decision.get("excluded", {})
    exclusions = [
        {"code": code, "label": EXCLUSION_LABELS[code], "count": excluded.get(code, 0)} for code in EXCLUSION_REASONS
    ]
    weights = decision.get("weights", {})
    winner = decision.get("winner", {})

    def parts(components: dict) -> list[dict]:
        rows = []
        order = [name for name in COMPONENT_LABELS if name in components] + sorted(
            set(components) - set(COMPONENT_LABELS)
        )
        for name in order:
            value = components[name]
            weight = float(weights.get(name, 0))
            rows.append(
                {
                    "name": name,
                    "label": COMPONENT_LABELS.get(name, name),
                    "help": COMPONENT_HELP.get(name, ""),
                    "value": value,
                    "weight": weight,
                    "points": round(weight * float(value), 4),
                }
            )
        return rows

    stage = decision.get("stage", {})
    return {
        "policy_version": decision.get("policy_version"),
        "stage": stage,
        "waited_seconds": decision.get("waited_seconds"),
        "requirements": decision.get("requirements", []),
        "online": pool.get("online", 0),
        "eligible": pool.get("eligible", 0),
        "exclusions": exclusions,
        "excluded_total": sum(row["count"] for row in exclusions),
        "adds_up": pool.get("online", 0) == pool.get("eligible", 0) + sum(row["count"] for row in exclusions),
        "shortlisted": pool.get("shortlisted"),
        "shortlist_rule": pool.get("shortlist_rule", ""),
        "winner": {
            "name": names.get(winner.get("agent_id"), "?"),
            "score": winner.get("score"),
            "parts": parts(winner.get("components", {})),
        },
        "runners_up": [
            {"name": names.get(row["agent_id"], "?"), "score": row["score"], "parts": parts(row["components"])}
            for row in decision.get("runners_up", [])
        ],
        "fanout": decision.get("fanout"),
    }


def _decision_agent_names(offers) -> dict:
    ids = set()
    for offer in offers:
        decision = offer.decision or {}
        ids.add(decision.get("winner", {}).get("agent_id"))
        ids.update(row.get("agent_id") for row in decision.get("runners_up", []))
    ids.discard(None)
    return {str(pk): name for pk, name in Agent.objects.filter(pk__in=ids).values_list("pk", "display_name")}


def ticket_timeline(*, ticket: Ticket) -> list[dict]:
    """Everything that happened to `ticket`, oldest first: escalated, offers (with their decision
    records) and how each ended, assignment, messages, supervisor actions, closing, webhooks."""
    events: list[dict] = [
        {
            "at": ticket.created_at,
            "kind": "escalated",
            "text": gettext("Escalated by %(integration)s: %(reason)s, language %(language)s, priority %(priority)s.")
            % {
                "integration": ticket.integration.name,
                "reason": human_label(ticket.reason),
                "language": human_label(ticket.language),
                "priority": ticket.priority,
            },
        }
    ]
    offers = list(Offer.objects.filter(ticket=ticket).select_related("agent").order_by("created_at"))
    names = _decision_agent_names(offers)
    for offer in offers:
        entry = _offer_entry(offer)
        events.append(
            {
                "at": offer.created_at,
                "kind": "offered",
                **entry,
                "text": gettext("Offered to %(agent)s") % {"agent": offer.agent.display_name},
                # The same reasons the agent read, told about them (third person), in the reader's language.
                "why": why_text(offer.why_codes, about=offer.agent.display_name) if offer.why_codes else offer.why,
                "record": decision_record(decision=offer.decision, names=names),
            }
        )
        if offer.answered_at is not None:
            ending = human_label(offer.status)
            why_ended = offer.decline_reason if offer.status == OfferStatus.DECLINED else ""
            if offer.status == OfferStatus.WITHDRAWN and offer.withdraw_reason:
                why_ended = human_label(offer.withdraw_reason)
            if why_ended:
                ending += f" ({why_ended})"
            events.append(
                {
                    "at": offer.answered_at,
                    "kind": f"offer_{offer.status}",
                    "text": gettext("Offer to %(agent)s: %(ending)s.")
                    % {"agent": offer.agent.display_name, "ending": ending},
                    "offer_id": str(offer.pk),
                }
            )
    if ticket.assigned_at is not None and ticket.assigned_agent is not None:
        events.append(
            {
                "at": ticket.assigned_at,
                "kind": "assigned",
                "text": gettext("Assigned to %(agent)s (latest assignment).")
                % {"agent": ticket.assigned_agent.display_name},
                "agent": {"id": str(ticket.assigned_agent_id), "display_name": ticket.assigned_agent.display_name},
            }
        )
    for message in Message.objects.filter(ticket=ticket).select_related("author_agent").order_by("seq"):
        author = message.author_agent.display_name if message.author_agent else human_label(message.author_kind)
        events.append({"at": message.at, "kind": "message", "author": author, "text": message.text})
    for entry in (
        AuditEntry.objects.filter(subject_type="ticket", subject_id=str(ticket.pk))
        .select_related("actor")
        .order_by("at")
    ):
        events.append(
            {
                "at": entry.at,
                "kind": entry.action,
                "text": gettext("%(action)s by %(who)s")
                % {"action": human_label(entry.action), "who": audit_actor_name(entry)}
                + (f": {entry.reason}" if entry.reason else ""),
                "data": entry.data,
            }
        )
    if ticket.closed_at is not None:
        closing = {
            TicketStatus.RESOLVED: gettext("Resolved (%(outcome)s)")
            % {"outcome": human_label(ticket.outcome) if ticket.outcome else gettext("no outcome")},
            TicketStatus.CANCELLED: gettext("Cancelled"),
            TicketStatus.HANDED_BACK: gettext("Handed back to the bot"),
        }.get(ticket.status, human_label(ticket.status))
        events.append(
            {
                "at": ticket.closed_at,
                "kind": ticket.status,
                "text": closing + (f": {ticket.resolution_notes}" if ticket.resolution_notes else "") + ".",
            }
        )
    if ticket.csat_at is not None:
        events.append(
            {"at": ticket.csat_at, "kind": "csat", "text": f"CSAT {ticket.csat_score}/5 {ticket.csat_comment}"}
        )
    skipped = []
    for delivery in WebhookDelivery.objects.filter(ticket=ticket).order_by("seq"):
        if delivery.status == WebhookDeliveryStatus.SKIPPED:
            skipped.append(delivery)
            continue
        text = gettext("Webhook %(event)s: %(status)s after %(attempts)s attempt(s)") % {
            "event": delivery.event,
            "status": human_label(delivery.status),
            "attempts": delivery.attempts,
        }
        events.append(
            {
                "at": delivery.created_at,
                "kind": "webhook",
                "text": text + (f", HTTP {delivery.last_status_code}" if delivery.last_status_code else ""),
                "event": delivery.event,
                "status": delivery.status,
                "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
            }
        )
    if skipped:
        # The integration has no webhook URL: one line for all of them, not one per event.
        events.append(
            {
                "at": skipped[0].created_at,
                "kind": "webhook",
                "text": gettext("Not sent, the integration has no webhook URL: %(events)s.")
                % {"events": ", ".join(delivery.event for delivery in skipped)},
                "event": ", ".join(delivery.event for delivery in skipped),
                "status": WebhookDeliveryStatus.SKIPPED,
                "delivered_at": None,
            }
        )
    events.sort(key=lambda event: event["at"])
    for event in events:
        event["at"] = event["at"].isoformat()
    return events


# ---------------------------------------------------------------- the pool

POOL_STATS_DAYS = 30
POOL_ROWS_LIMIT = 500


def _handle_seconds_by_agent(since: datetime) -> dict:
    durations = defaultdict(list)
    for agent_id, assigned_at, closed_at in Ticket.objects.filter(
        closed_at__gte=since,
        status__in=[TicketStatus.RESOLVED, TicketStatus.HANDED_BACK],
        assigned_at__isnull=False,
    ).values_list("assigned_agent_id", "assigned_at", "closed_at"):
        durations[agent_id].append((closed_at - assigned_at).total_seconds())
    return {agent_id: sum(values) / len(values) for agent_id, values in durations.items()}


def pool_rows(
    *,
    search: str = "",
    status: str = "",
    presence: str = "",
    language: str = "",
    skill: str = "",
    now=None,
    offset: int = 0,
    limit: int = POOL_ROWS_LIMIT,
) -> list[dict]:
    """The pool with each agent's state, load and the last 30 days' acceptance rate, CSAT, handle time
    and share of all offers. A fixed number of queries however many agents."""

    now = now or timezone.now()
    since = now - timedelta(days=POOL_STATS_DAYS)
    agents = agent_list(search=search)
    if status:
        agents = agents.filter(status=status)
    if presence:
        agents = agents.filter(presence=presence)
    if language:
        agents = agents.filter(language_rows__code=language)
    if skill:
        agents = agents.filter(skill_levels__skill__code=skill)
    agents = list(
        agents.distinct().annotate(state=agent_state_expression())[offset : offset + min(limit, POOL_ROWS_LIMIT)]
    )
    offer_counts = {
        row["agent_id"]: row
        for row in Offer.objects.filter(created_at__gte=since, agent_id__in=[a.pk for a in agents])
        .values("agent_id")
        .annotate(
            total=Count("pk"),
            accepted=Count("pk", filter=Q(status=OfferStatus.ACCEPTED)),
            answered=Count(
                "pk", filter=Q(status__in=[OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED])
            ),
        )
    }
    all_offers = Offer.objects.filter(created_at__gte=since).count()
    handle = _handle_seconds_by_agent(since)
    rows = []
    for agent in agents:
        counts = offer_counts.get(agent.pk, {"total": 0, "accepted": 0, "answered": 0})
        rows.append(
            {
                "agent": agent,
                "id": str(agent.pk),
                "username": agent.user.username,
                "display_name": agent.display_name,
                "status": agent.status,
                "status_reason": agent.status_reason,
                "presence": agent.presence,
                "online": agent.state in ONLINE_STATES,
                "state": agent.state,
                "state_label": str(AGENT_STATE_LABELS[agent.state]),
                "languages": sorted(row.code for row in agent.language_rows.all()),
                "skills": {row.skill.code: row.level for row in agent.skill_levels.all()},
                "active_tickets": agent.active_tickets,
                "max_concurrent": agent.max_concurrent,
                "acceptance_rate": round(counts["accepted"] / counts["answered"], 3) if counts["answered"] else None,
                "csat": round(agent.csat_sum / agent.csat_count, 2) if agent.csat_count else None,
                "csat_count": agent.csat_count,
                "handle_seconds": round(handle[agent.pk]) if agent.pk in handle else None,
                "offers": counts["total"],
                "offer_share": round(counts["total"] / all_offers, 3) if all_offers else None,
            }
        )
    return rows


def pool_row_payload(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "agent"}


def pool_state_summary(rows: list[dict]) -> dict:
    """How many of the listed agents are in each state, with the wholes they add up to (as on the board)."""
    counts = Counter(row["state"] for row in rows)
    summary = {name: counts[name] for name in AGENT_STATES}
    summary["online"] = sum(summary[name] for name in ONLINE_STATES)
    summary["listed"] = len(rows)
    return summary


# ---------------------------------------------------------------- quality


def _mean(values):
    return round(sum(values) / len(values), 2) if values else None


def quality_report(*, days: int = 30, now=None) -> dict:
    """CSAT and handle time per agent, per set of skills needed and per escalation reason over the last
    `days` days, and per reason the share of the escalations agents marked avoidable (of those with that
    feedback). Each finished ticket is in exactly one row of each table, so each table adds up to `tickets`."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    finished = list(
        Ticket.objects.filter(
            closed_at__gte=since,
            status__in=[TicketStatus.RESOLVED, TicketStatus.HANDED_BACK],
            assigned_agent__isnull=False,
        ).values_list("pk", "assigned_agent_id", "reason", "assigned_at", "closed_at", "csat_score", "bot_feedback")
    )
    skills_of = defaultdict(list)
    for ticket_id, code in TicketSkill.objects.filter(ticket_id__in=[row[0] for row in finished]).values_list(
        "ticket_id", "skill__code"
    ):
        skills_of[ticket_id].append(code)
    names = dict(Agent.objects.filter(pk__in={row[1] for row in finished}).values_list("pk", "display_name"))

    def group():
        return {"tickets": 0, "csat": [], "handle": []}

    by_agent, by_skill, by_reason = defaultdict(group), defaultdict(group), defaultdict(group)
    avoidable = defaultdict(lambda: {"with_feedback": 0, "avoidable": 0})
    for ticket_id, agent_id, reason, assigned_at, closed_at, csat, feedback in finished:
        handle = (closed_at - assigned_at).total_seconds() if assigned_at else None
        for bucket in (
            by_agent[agent_id],
            by_reason[reason],
            by_skill[skill_set(skills_of[ticket_id])],
        ):
            bucket["tickets"] += 1
            if csat is not None:
                bucket["csat"].append(csat)
            if handle is not None:
                bucket["handle"].append(handle)
        flag = (feedback or {}).get("escalation_avoidable")
        if isinstance(flag, bool):
            avoidable[reason]["with_feedback"] += 1
            avoidable[reason]["avoidable"] += int(flag)

    def rows(groups, label):
        out = []
        for key, bucket in groups.items():
            out.append(
                {
                    label: key,
                    "tickets": bucket["tickets"],
                    "csat": _mean(bucket["csat"]),
                    "csat_count": len(bucket["csat"]),
                    "handle_seconds": round(sum(bucket["handle"]) / len(bucket["handle"]))
                    if bucket["handle"]
                    else None,
                }
            )
        return sorted(out, key=lambda row: (-row["tickets"], str(row[label])))

    agents = rows(by_agent, "agent_id")
    for row in agents:
        row["display_name"] = names.get(row["agent_id"], "?")
        row["agent_id"] = str(row["agent_id"])
    reasons = rows(by_reason, "reason")
    for row in reasons:
        counts = avoidable[row["reason"]]
        row["with_feedback"] = counts["with_feedback"]
        row["avoidable"] = counts["avoidable"]
        row["avoidable_share"] = (
            round(counts["avoidable"] / counts["with_feedback"], 3) if counts["with_feedback"] else None
        )
    return {
        "since": since.isoformat(),
        "days": days,
        "tickets": len(finished),
        "by_agent": agents,
        "by_skill": rows(by_skill, "skill"),
        "by_reason": reasons,
    }


# ---------------------------------------------------------------- coverage

DEFAULT_HANDLE_SECONDS = 480  # until tickets have been handled: payouts' default of 8 minutes
FORECAST_WEEKS = 4


def measured_handle_seconds(*, now=None, weeks: int = FORECAST_WEEKS) -> tuple[float, int]:
    """Mean `closed_at − assigned_at` of tickets finished in the last `weeks` weeks, and how many."""
    now = now or timezone.now()
    values = [
        (closed_at - assigned_at).total_seconds()
        for assigned_at, closed_at in Ticket.objects.filter(
            closed_at__gte=now - timedelta(weeks=weeks),
            status__in=[TicketStatus.RESOLVED, TicketStatus.HANDED_BACK],
            assigned_at__isnull=False,
        ).values_list("assigned_at", "closed_at")[:200_000]
    ]
    if not values:
        return float(DEFAULT_HANDLE_SECONDS), 0
    return sum(values) / len(values), len(values)


def hourly_arrivals(*, now=None, weeks: int = FORECAST_WEEKS) -> dict[datetime, int]:
    """Tickets created per hour (start of the hour, UTC) over the last `weeks` weeks."""

    now = now or timezone.now()
    counts: Counter = Counter()
    for created_at in Ticket.objects.filter(
        created_at__gte=hour_start(now) - timedelta(weeks=weeks), created_at__lt=hour_start(now)
    ).values_list("created_at", flat=True):
        counts[hour_start(created_at.astimezone(UTC))] += 1
    return dict(counts)


def coverage(*, days: int = 14, now=None) -> dict:
    """Booked against needed agents per hour for the next `days` days (see supervisor.staffing)."""

    now = now or timezone.now()
    policy = policy_current()
    handle_seconds, handled = measured_handle_seconds(now=now)
    start = hour_start(now)
    end = start + timedelta(days=days)
    windows = Shift.objects.filter(cancelled_at__isnull=True, starts_at__lt=end, ends_at__gt=start).values_list(
        "starts_at", "ends_at", "booked_count"
    )
    plan = coverage_plan(
        hourly_arrivals=hourly_arrivals(now=now),
        booked_windows=list(windows),
        now=now,
        hours=days * 24,
        handle_seconds=handle_seconds,
        target_seconds=policy.sla_target_seconds,
        target_ratio=float(policy.sla_target_ratio),
    )
    return {
        "from": start.isoformat(),
        "days": days,
        "handle_seconds": round(handle_seconds, 1),
        "handle_time_sample": handled,
        "sla_target_seconds": policy.sla_target_seconds,
        "sla_target_ratio": float(policy.sla_target_ratio),
        "forecast_weeks": FORECAST_WEEKS,
        "hours": [
            {
                "starts_at": hour.starts_at.isoformat(),
                "forecast_arrivals": hour.forecast_arrivals,
                "needed": hour.needed,
                "booked": hour.booked,
                "gap": hour.gap,
            }
            for hour in plan
        ],
    }


# ---------------------------------------------------------------- policy history


def policy_history(*, limit: int = 50) -> list[dict]:
    """Every policy change with who, when, why, before and after (from the audit log)."""
    entries = (
        AuditEntry.objects.filter(action="dispatch_policy.changed").select_related("actor").order_by("-at")[:limit]
    )
    return [
        {
            "at": entry.at.isoformat(),
            "by": audit_actor_name(entry),
            "reason": entry.reason,
            "from_version": entry.data.get("from_version"),
            "to_version": entry.data.get("to_version"),
            "before": entry.data.get("before", {}),
            "after": entry.data.get("after", {}),
        }
        for entry in entries
    ]


# ---------------------------------------------------------------- monitoring a live conversation


def ticket_monitor(*, ticket: Ticket, after_seq: int = 0) -> dict:
    """What a supervisor watching `ticket` reads: its messages after `after_seq` (the bot's transcript,
    the customer's and the agent's; a whisper never is one), the internal notes (the supervisors'
    whispers among them) and whether it is still live. Two small indexed reads, so polling it every
    few seconds costs little."""
    messages = Message.objects.filter(ticket=ticket, seq__gt=after_seq).select_related("author_agent").order_by("seq")
    return {
        "status": ticket.status,
        "status_label": human_label(ticket.status),
        "live": ticket.status == TicketStatus.ASSIGNED,
        "messages": [
            {
                **message_payload(message),
                "author": message.author_agent.display_name
                if message.author_agent
                else human_label(message.author_kind),
            }
            for message in messages
        ],
        "notes": ticket_notes(ticket=ticket),
    }
