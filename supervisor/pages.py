"""Server-rendered pages of the supervisor's console (/supervisor/...). The landing page /supervisor/ is
the live board, board_page (supervisor/board.html: each figure with its definition; board.js fills in
the numbers over /ws/supervisor/).

Views are thin: read through supervisor.selectors, write through the services, then redirect (POST, redirect,
GET). A refused action shows its reason at the top of the page and changes nothing.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from actions import supervision
from actions.people import agent_pseudonymisation_blockers, agent_pseudonymise
from actions.rules import policy_change
from agents import shifts
from agents.models import MAX_CONCURRENT_MAX, MAX_CONCURRENT_MIN, Agent, Role, Skill, SuspensionAppeal
from agents.permissions import role_required
from agents.services import agent_reinstate, agent_suspend, agent_update
from core.audit import audit_actor_name
from core.errors import DomainError
from core.models import AuditEntry
from dispatch import selectors as dispatch_selectors
from dispatch.policy import policy_current
from dispatch.serializers import PolicyUpdateSerializer
from supervisor import selectors as board
from supervisor.labels import LABELS
from tickets.models import Ticket, TicketStatus

FLASH_KEY = "supervisor_flash"


def _flash(request, kind: str, text: str) -> None:
    request.session[FLASH_KEY] = {"kind": kind, "text": text}


def _error_text(exc: DomainError) -> str:
    details = []
    for field, problems in (exc.fields or {}).items():
        if isinstance(problems, list | tuple):
            details += [str(p) for p in problems if str(p) not in exc.message]
        elif isinstance(problems, dict):
            details += [f"{field}: {v}" for v in problems.values()]
    return " ".join([exc.message, *details]).strip()


def _attempt(request, action, *, success: str) -> bool:
    """Run a service call; flash its success or the reason it was refused."""
    try:
        action()
    except DomainError as exc:
        _flash(request, "error", _error_text(exc))
        return False
    _flash(request, "ok", success)
    return True


def _render(request, template: str, context: dict, *, section: str):
    flash = request.session.pop(FLASH_KEY, None)
    return render(request, template, {**context, "flash": flash, "section": section})


# ---------------------------------------------------------------- the live board


def _board_strings() -> dict:
    """What board.js writes on the page, in the request's language."""
    return {
        "live": gettext("live"),
        "reconnecting": gettext("reconnecting…"),
        "updated": gettext("Updated {time}."),
        "nobody_waiting": gettext("Nobody waiting."),
        "no_alerts": gettext("No alerts."),
        "acknowledge": gettext("Acknowledge"),
        "acknowledging": gettext("Acknowledging…"),
        "acknowledged_by": gettext("Acknowledged by {who} at {time}."),
        "acknowledge_failed": gettext("Could not acknowledge: {reason}"),
        "no_agents": gettext("No agent matches."),
        "why_on_offer": gettext("On offer, waiting for the agent's answer."),
        "why_nobody_online": gettext("Nobody is online."),
        "why_eligible": gettext("{eligible} of {online} online could take it: the next offer goes out within seconds."),
        "why_nobody_eligible": gettext("Of {online} online, nobody can take it: {parts}."),
        "excluded_part": gettext("{count} {label}"),
        "held_of": gettext("{held} of {capacity}"),
        "labels": {code: str(text) for code, text in LABELS.items()},
        "states": {code: str(text) for code, text in board.AGENT_STATE_LABELS.items()},
        "exclusions": {code: str(text) for code, text in board.EXCLUSION_LABELS.items()},
    }


@role_required(Role.SUPERVISOR)
def board_page(request):
    """The live board: the figures' places and each one's definition; the numbers come over the socket."""
    return _render(
        request,
        "supervisor/board.html",
        {
            "definitions": board.board_definitions(),
            "board_strings": _board_strings(),
            "skills": Skill.objects.order_by("name"),
            "languages": sorted(set(Agent.objects.values_list("language_rows__code", flat=True)) - {None}),
        },
        section="board",
    )


# ---------------------------------------------------------------- tickets


@role_required(Role.SUPERVISOR)
def tickets_page(request):
    status = request.GET.get("status", "")  # the most recent tickets of every status
    search = request.GET.get("search", "").strip()
    return _render(
        request,
        "supervisor/tickets.html",
        {
            "tickets": board.supervisor_tickets(status=status, search=search),
            "status": status,
            "search": search,
            "statuses": ["", "open", *TicketStatus.values],
        },
        section="tickets",
    )


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def ticket_page(request, ticket_id):
    ticket = get_object_or_404(Ticket.objects.select_related("integration", "assigned_agent"), pk=ticket_id)
    if request.method == "POST":
        action = request.POST.get("action")
        reason = request.POST.get("reason", "")
        if action == "reassign":
            _attempt(
                request,
                lambda: supervision.ticket_reassign(
                    ticket_id=ticket.pk,
                    agent_id=request.POST.get("agent_id") or None,
                    actor=request.user,
                    reason=reason,
                ),
                success="The ticket was reassigned.",
            )
        elif action == "requeue":
            _attempt(
                request,
                lambda: supervision.ticket_requeue(ticket_id=ticket.pk, actor=request.user, reason=reason),
                success="The ticket is back in the queue.",
            )
        elif action == "cancel":
            _attempt(
                request,
                lambda: supervision.ticket_cancel_by_supervisor(ticket_id=ticket.pk, actor=request.user, reason=reason),
                success="The ticket was cancelled.",
            )
        return redirect("supervisor-ticket", ticket_id=ticket.pk)
    is_open = ticket.status in (TicketStatus.QUEUED, TicketStatus.OFFERED, TicketStatus.ASSIGNED)
    return _render(
        request,
        "supervisor/ticket.html",
        {
            "ticket": ticket,
            "skills": ticket.required_skills.select_related("skill"),
            "events": board.ticket_timeline(ticket=ticket),
            "candidates": dispatch_selectors.reassign_candidates(ticket=ticket) if is_open else [],
            "is_open": is_open,
        },
        section="tickets",
    )


# ---------------------------------------------------------------- the pool


@role_required(Role.SUPERVISOR)
def pool_page(request):
    filters = {k: request.GET.get(k, "").strip() for k in ("search", "status", "presence", "language", "skill")}
    rows = board.pool_rows(**filters)
    return _render(
        request,
        "supervisor/pool.html",
        {
            "rows": rows,
            "summary": board.pool_state_summary(rows),
            "rows_limit": board.POOL_ROWS_LIMIT,
            "filters": filters,
            "skills": Skill.objects.order_by("code"),
            "statuses": Agent.Status.values,
            "presences": Agent.Presence.values,
            "languages": sorted(set(Agent.objects.values_list("language_rows__code", flat=True)) - {None}),
            "stats_days": board.POOL_STATS_DAYS,
        },
        section="pool",
    )


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def agent_page(request, agent_id):
    agent = get_object_or_404(Agent.objects.select_related("user"), pk=agent_id)
    if request.method == "POST":
        action = request.POST.get("action")
        reason = request.POST.get("reason", "")
        if action == "suspend":
            _attempt(
                request,
                lambda: agent_suspend(agent=agent, actor=request.user, reason=reason),
                success=f"{agent.display_name} is suspended; they were told the reason.",
            )
        elif action == "reinstate":
            _attempt(
                request,
                lambda: agent_reinstate(agent=agent, actor=request.user, reason=reason),
                success=f"{agent.display_name} is active again.",
            )
        elif action == "approve":
            _attempt(
                request,
                lambda: supervision.agent_approve(agent_id=agent.pk, actor=request.user, reason=reason),
                success=f"{agent.display_name} is approved.",
            )
        elif action == "certify":
            level = request.POST.get("level", "")
            _attempt(
                request,
                lambda: supervision.agent_skill_certify(
                    agent_id=agent.pk,
                    actor=request.user,
                    skill=request.POST.get("skill", ""),
                    level=int(level) if level.isdigit() else None,
                ),
                success="Skill levels updated.",
            )
        elif action == "capacity":
            value = request.POST.get("max_concurrent", "")

            def set_capacity():
                if not value.isdigit() or not MAX_CONCURRENT_MIN <= int(value) <= MAX_CONCURRENT_MAX:
                    raise DomainError(
                        "invalid",
                        f"Capacity is a whole number of tickets from {MAX_CONCURRENT_MIN} to {MAX_CONCURRENT_MAX}.",
                    )
                agent_update(agent=agent, actor=request.user, max_concurrent=int(value))

            _attempt(request, set_capacity, success=f"Capacity set to {value}.")
        elif action == "pseudonymise":

            def pseudonymise():
                if request.POST.get("confirm") != "irreversible":
                    raise DomainError("unconfirmed", "Tick the box to confirm: pseudonymising cannot be undone.")
                agent_pseudonymise(agent=agent, actor=request.user, reason=reason)

            former_name = agent.display_name
            _attempt(
                request,
                pseudonymise,
                success=f"{former_name} is pseudonymised; their pay and payout records are kept.",
            )
        return redirect("supervisor-agent", agent_id=agent.pk)
    rows = [row for row in board.pool_rows(search=agent.user.username) if row["id"] == str(agent.pk)]
    return _render(
        request,
        "supervisor/agent.html",
        {
            "agent": agent,
            "row": rows[0] if rows else None,
            "skills": Skill.objects.order_by("code"),
            "history": [
                {"at": entry.at, "action": entry.action, "by": audit_actor_name(entry), "reason": entry.reason}
                for entry in AuditEntry.objects.filter(subject_type="agent", subject_id=str(agent.pk))
                .select_related("actor")
                .order_by("-at")[:30]
            ],
            "appeals": agent.appeals.select_related("suspended_by", "decided_by").order_by("-submitted_at")[:10],
            "pseudonymise_blockers": [] if agent.pseudonymised_at else agent_pseudonymisation_blockers(agent=agent),
        },
        section="pool",
    )


# ---------------------------------------------------------------- appeals


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def appeals_page(request):
    if request.method == "POST":
        _attempt(
            request,
            lambda: supervision.appeal_decide(
                appeal_id=request.POST.get("appeal_id"),
                actor=request.user,
                decision=request.POST.get("decision", ""),
                reason=request.POST.get("reason", ""),
            ),
            success="The appeal is decided; the agent was told.",
        )
        return redirect("supervisor-appeals")
    appeals = SuspensionAppeal.objects.select_related("agent", "suspended_by", "decided_by").order_by("-submitted_at")
    return _render(
        request,
        "supervisor/appeals.html",
        {
            "pending": appeals.filter(status=SuspensionAppeal.Status.PENDING),
            "decided": appeals.exclude(status=SuspensionAppeal.Status.PENDING)[:50],
        },
        section="appeals",
    )


# ---------------------------------------------------------------- shifts


def _utc(value: str):
    moment = parse_datetime(value or "")
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _codes(value: str) -> list[str]:
    return [code.strip() for code in (value or "").replace(";", ",").split(",") if code.strip()]


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def shifts_page(request):
    form = {}
    errors = None
    if request.method == "POST" and request.POST.get("action") == "cancel":
        _attempt(
            request,
            lambda: shifts.shift_cancel(
                shift_id=request.POST.get("shift_id"), actor=request.user, reason=request.POST.get("reason", "")
            ),
            success="The shift is cancelled; booked agents were told.",
        )
        return redirect("supervisor-shifts")
    if request.method == "POST":
        form = request.POST
        try:
            amount = Decimal(form.get("hourly_guarantee_amount") or "0")
        except InvalidOperation:
            amount = Decimal("-1")
        places = form.get("places", "")
        try:
            shift = shifts.shift_publish(
                actor=request.user,
                starts_at=_utc(form.get("starts_at")),
                ends_at=_utc(form.get("ends_at")),
                places=int(places) if places.lstrip("-").isdigit() else None,
                languages=_codes(form.get("languages")),
                skills=request.POST.getlist("skills"),
                hourly_guarantee_amount=amount,
                hourly_guarantee_currency=form.get("hourly_guarantee_currency", ""),
                note=form.get("note", ""),
            )
        except DomainError as exc:
            errors = exc.fields or {"__all__": [exc.message]}
        else:
            _flash(request, "ok", f"Shift published: {shift.starts_at:%a %d %b %H:%M}, {shift.places} place(s).")
            return redirect("supervisor-shifts")
    plan = board.coverage(days=14)
    grid: dict = {}
    for hour in plan["hours"]:
        moment = datetime.fromisoformat(hour["starts_at"])
        grid.setdefault(moment.date(), [None] * 24)[moment.hour] = hour
    days = [{"date": day, "hours": cells} for day, cells in grid.items()]
    return _render(
        request,
        "supervisor/shifts.html",
        {
            "shifts": shifts.shifts_upcoming(),
            "form": form,
            "errors": errors,
            "skills": Skill.objects.order_by("code"),
            "coverage": plan,
            "coverage_days": days,
            "hour_labels": range(24),
            "release_hours": int(shifts.RELEASE_CUTOFF / timedelta(hours=1)),
        },
        section="shifts",
    )


# ---------------------------------------------------------------- quality


@role_required(Role.SUPERVISOR)
def quality_page(request):
    try:
        days = min(365, max(1, int(request.GET.get("days", 30))))
    except ValueError:
        days = 30
    return _render(request, "supervisor/quality.html", {"report": board.quality_report(days=days)}, section="quality")


# ---------------------------------------------------------------- the dispatch policy

POLICY_NUMBERS = (
    ("offer_timeout_seconds", "Offer timeout (s)", "How long an agent has to accept; 3 to 300."),
    ("offer_fanout", "Fan-out", "Agents offered a ticket at once."),
    ("sla_target_seconds", "SLA target (s)", "Assigned within this many seconds…"),
    ("sla_target_ratio", "SLA target ratio", "…for this share of tickets (0.80 = 80%)."),
    ("surge_min", "Surge minimum", "Lowest pay multiplier."),
    ("surge_max", "Surge maximum", "Highest pay multiplier."),
    ("presence_grace_seconds", "Presence grace (s)", "Without a socket this long, an agent goes offline."),
    ("requeue_after_seconds", "Requeue after (s)", "An absent agent's tickets go back to the queue."),
    ("max_missed_offers_in_row", "Missed offers before away", "0 switches this off."),
    ("default_skill_level", "Default skill level", "Level a ticket's skills need by default."),
)
WEIGHTS = ("skill_fit", "quality", "fairness", "shift")


def _policy_changes(post, current) -> dict:
    """The submitted values that differ from the policy in force, still as text (the serializer parses)."""
    import json

    changes: dict = {}
    for name, _, _ in POLICY_NUMBERS:
        value = post.get(name, "").strip()
        if value != "" and value != str(getattr(current, name)):
            changes[name] = value
    weights = {name: post.get(f"weight_{name}", "").strip() for name in WEIGHTS}
    if any(weights.values()) and any(str(current.ranking_weights.get(k)) != v for k, v in weights.items()):
        changes["ranking_weights"] = weights
    steps_text = post.get("escalation_steps", "").strip()
    if steps_text:
        try:
            steps = json.loads(steps_text)
        except ValueError:
            steps = steps_text  # the serializer refuses it with a reason
        if steps != current.escalation_steps:
            changes["escalation_steps"] = steps
    return changes


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def policy_page(request):

    current = policy_current()
    errors = None
    if request.method == "POST":
        changes = _policy_changes(request.POST, current)
        if not changes:
            _flash(request, "error", "Nothing changed: the policy in force already has these values.")
            return redirect("supervisor-policy")
        data = PolicyUpdateSerializer(data={**changes, "change_reason": request.POST.get("change_reason", "")})
        if data.is_valid():
            values = dict(data.validated_data)
            reason = values.pop("change_reason", "")
            try:
                policy = policy_change(actor=request.user, changes=values, change_reason=reason)
            except DomainError as exc:
                errors = exc.fields or {"__all__": [exc.message]}
            else:
                _flash(request, "ok", f"Policy version {policy.version} is in force.")
                return redirect("supervisor-policy")
        else:
            errors = data.errors
    fields = [
        {"name": name, "label": label, "help": help_text, "value": request.POST.get(name, getattr(current, name))}
        for name, label, help_text in POLICY_NUMBERS
    ]
    weights = [
        {"name": name, "value": request.POST.get(f"weight_{name}", current.ranking_weights.get(name, ""))}
        for name in WEIGHTS
    ]
    return _render(
        request,
        "supervisor/policy.html",
        {
            "policy": current,
            "fields": fields,
            "weights": weights,
            "steps_text": request.POST.get("escalation_steps") or _steps_text(current.escalation_steps),
            "errors": _flatten_errors(errors),
            "history": board.policy_history(),
        },
        section="policy",
    )


def _steps_text(steps: list[dict]) -> str:
    """One step per line, keys in reading order (PostgreSQL's jsonb does not keep them)."""
    import json

    lines = [json.dumps({key: step.get(key) for key in ("after_seconds", "action", "value")}) for step in steps]
    return "[\n  " + ",\n  ".join(lines) + "\n]"


def _flatten_errors(errors) -> list[str]:
    if not errors:
        return []
    flat = []
    for field, problems in dict(errors).items():
        if isinstance(problems, dict):
            problems = [f"{k}: {v}" for k, v in problems.items()]
        if not isinstance(problems, list | tuple):
            problems = [problems]
        label = "" if field == "__all__" else f"{field}: "
        flat += [f"{label}{problem}" for problem in problems]
    return flat
