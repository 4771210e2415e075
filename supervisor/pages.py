"""Server-rendered pages of the supervisor's console (/supervisor/...). The landing page /supervisor/ is
the live board, board_page (supervisor/board.html: each figure with its definition; board.js fills in
the numbers over /ws/supervisor/).

Views are thin: read through supervisor.selectors, write through the services, then redirect (POST, redirect,
GET). A refused action shows its reason at the top of the page and changes nothing.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from actions import supervision
from actions.people import agent_pseudonymisation_blockers, agent_pseudonymise
from actions.rules import policy_change
from agents import shifts
from agents.models import (
    MAX_CONCURRENT_MAX,
    MAX_CONCURRENT_MIN,
    Agent,
    AgentLanguage,
    Role,
    Skill,
    SuspensionAppeal,
)
from agents.permissions import role_required
from agents.services import agent_create, agent_reinstate, agent_suspend, agent_update
from core.audit import audit_actor_name
from core.errors import DomainError, InvalidInput
from core.models import AuditEntry
from core.timezones import in_viewer_timezone
from dispatch import selectors as dispatch_selectors
from dispatch.policy import policy_current
from dispatch.serializers import PolicyUpdateSerializer
from supervisor import selectors as board
from supervisor.labels import LABELS
from tickets.models import Ticket, TicketStatus
from tickets.services import note_add

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


@in_viewer_timezone
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


@in_viewer_timezone
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


@in_viewer_timezone
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
        elif action == "whisper":
            # A whisper is an internal note (issue 17's notes): the holder sees it at once, later holders and
            # supervisors read it with the ticket, and the customer and the bot platform never do.
            _attempt(
                request,
                lambda: note_add(ticket=ticket, author=request.user, text=request.POST.get("text", "")),
                success=gettext("Your whisper reached the agent."),
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
            "monitor": board.ticket_monitor(ticket=ticket) if ticket.status == TicketStatus.ASSIGNED else None,
            "monitor_strings": _monitor_strings(),
        },
        section="tickets",
    )


def _monitor_strings() -> dict:
    """What monitor.js writes on the page, in the request's language."""
    return {
        "live": gettext("live"),
        "reconnecting": gettext("reconnecting…"),
        "ended": gettext("The conversation is no longer live ({status}). Reload the page to see the ticket now."),
        "whisper": gettext("Whisper"),
        "no_notes": gettext("No whispers or notes yet."),
    }


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET"])
def ticket_monitor_page(request, ticket_id):
    """The live conversation as JSON, polled by monitor.js on the ticket's page: messages after `after`
    (a message number), the notes, and whether the ticket is still with an agent.

    Polled rather than pushed over /ws/supervisor/: messages are pushed only to the holding agent
    (tickets.services.message_add), and carrying them on the supervisors' socket would need a group per
    ticket and a subscribe frame there; two indexed reads every two seconds while a supervisor watches
    cost less than that machinery, and a poll cannot miss a message the way a lost push can."""
    ticket = get_object_or_404(Ticket.objects.only("pk", "status"), pk=ticket_id)
    try:
        after_seq = max(int(request.GET.get("after", "0")), 0)
    except ValueError:
        error = InvalidInput({"after": ["`after` is a message number: a whole number."]})
        return JsonResponse(error.as_dict(), status=error.http_status)
    return JsonResponse(board.ticket_monitor(ticket=ticket, after_seq=after_seq))


# ---------------------------------------------------------------- the pool


def _language_choices() -> list[str]:
    """The languages an agent can be given: the site's and any an agent already speaks."""
    known = {code for code, _name in settings.LANGUAGES}
    return sorted(known | (set(AgentLanguage.objects.values_list("code", flat=True).distinct())))


def _chosen_languages(post) -> list[str]:
    languages = sorted({code.strip().lower() for code in post.getlist("languages") if code.strip()})
    if not languages:
        raise DomainError(
            "invalid", gettext("Choose at least one language the agent speaks."), fields={"languages": []}
        )
    return languages


def _agent_add(request):
    """A new agent from the pool page: who they are, a first password to give them, languages, one skill."""
    post = request.POST
    username = post.get("username", "").strip()
    display_name = post.get("display_name", "").strip()
    password = post.get("password", "")
    problems = {}
    if not username:
        problems["username"] = [gettext("A username is required.")]
    if not display_name:
        problems["display_name"] = [gettext("A name is required.")]
    if len(password) < 8:
        problems["password"] = [gettext("The first password needs at least 8 characters.")]
    if problems:
        raise InvalidInput(problems, gettext("The agent was not added."))
    skill, level = post.get("skill", ""), post.get("level", "")
    return agent_create(
        username=username,
        password=password,
        display_name=display_name,
        languages=_chosen_languages(post),
        skills={skill: int(level)} if skill and level.isdigit() else {},
        actor=request.user,
    )


@in_viewer_timezone
@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def pool_page(request):
    if request.method == "POST":
        created = []
        if _attempt(
            request,
            lambda: created.append(_agent_add(request)),
            success=gettext("%(name)s is added and can sign in with the password you chose.")
            % {"name": request.POST.get("display_name", "").strip()},
        ):
            return redirect("supervisor-agent", agent_id=created[0].pk)
        return redirect("supervisor-pool")
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
            "language_choices": _language_choices(),
        },
        section="pool",
    )


@in_viewer_timezone
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
        elif action == "languages":
            _attempt(
                request,
                lambda: agent_update(agent=agent, actor=request.user, languages=_chosen_languages(request.POST)),
                success=gettext("Languages updated."),
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
            "language_choices": _language_choices(),
            "agent_languages": set(agent.language_rows.values_list("code", flat=True)),
        },
        section="pool",
    )


# ---------------------------------------------------------------- appeals


@in_viewer_timezone
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


@in_viewer_timezone
@role_required(Role.SUPERVISOR)
def quality_page(request):
    try:
        days = min(365, max(1, int(request.GET.get("days", 30))))
    except ValueError:
        days = 30
    return _render(request, "supervisor/quality.html", {"report": board.quality_report(days=days)}, section="quality")


# ---------------------------------------------------------------- the dispatch policy

POLICY_NUMBERS = (
    (
        "offer_timeout_seconds",
        _("Time to answer an offer (seconds)"),
        _("How long an agent has to accept before the offer expires; 3 to 300."),
    ),
    ("offer_fanout", _("Agents offered a ticket at once"), _("1 offers each ticket to one agent at a time.")),
    ("sla_target_seconds", _("Target wait (seconds)"), _("A ticket should be assigned within this many seconds…")),
    ("sla_target_ratio", _("Share of tickets within the target"), _("…for this share of tickets (0.80 = 80%).")),
    ("surge_min", _("Lowest pay multiplier (surge)"), _("Pay is never multiplied by less; 1.00 = no surge.")),
    ("surge_max", _("Highest pay multiplier (surge)"), _("The most a long queue can raise pay by.")),
    (
        "presence_grace_seconds",
        _("Reconnection grace (seconds)"),
        _("An agent whose console lost its connection this long goes offline."),
    ),
    (
        "requeue_after_seconds",
        _("Give tickets back after (seconds)"),
        _("The tickets of an agent gone this long go back to the queue."),
    ),
    (
        "max_missed_offers_in_row",
        _("Missed offers before set away"),
        _("After this many unanswered offers in a row the agent is set away; 0 switches this off."),
    ),
    (
        "default_skill_level",
        _("Skill level asked by default"),
        _("The level a ticket's skills need when the bot does not say."),
    ),
)
WEIGHTS = ("skill_fit", "quality", "fairness", "shift")


def _policy_changes(post, current) -> dict:
    """The submitted values that differ from the policy in force, still as text (the serializer parses)."""
    changes: dict = {}
    for name, _label, _help in POLICY_NUMBERS:
        value = post.get(name, "").strip()
        if value != "" and value != str(getattr(current, name)):
            changes[name] = value
    weights = {name: post.get(f"weight_{name}", "").strip() for name in WEIGHTS}
    if any(weights.values()) and any(str(current.ranking_weights.get(k)) != v for k, v in weights.items()):
        changes["ranking_weights"] = weights
    if "step_after_seconds" in post:
        steps = _steps_from_rows(post)
        if _steps_key(steps) != _steps_key(current.escalation_steps):
            changes["escalation_steps"] = steps
    return changes


def _number_or_text(value: str):
    """A whole number as an int; anything else as typed, for the serializer to refuse with a reason."""
    value = value.strip()
    return int(value) if value.lstrip("-").isdigit() else (value or None)


def _steps_from_rows(post) -> list[dict]:
    """The escalation steps edited as rows (wait, action, value); a row left empty is no step."""
    rows = zip(
        post.getlist("step_after_seconds"), post.getlist("step_action"), post.getlist("step_value"), strict=False
    )
    steps = []
    for after, action, value in rows:
        if not after.strip() and not value.strip():
            continue
        step = {"after_seconds": _number_or_text(after), "action": action}
        if action != "alert_supervisors":
            step["value"] = _number_or_text(value)
        steps.append(step)
    return steps


def _steps_key(steps) -> list:
    return sorted((str(step.get("after_seconds")), step.get("action"), str(step.get("value"))) for step in steps or [])


@in_viewer_timezone
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
            "steps": _steps_rows(request.POST if request.method == "POST" else None, current.escalation_steps),
            "step_actions": STEP_ACTIONS,
            "errors": _flatten_errors(errors, labels=_policy_labels()),
            "policy_labels": _policy_labels(),
            "history": board.policy_history(),
        },
        section="policy",
    )


STEP_ACTIONS = (
    ("relax_skill_level", _("Lower the skill level asked by")),
    ("widen_fanout", _("Offer to this many agents at once")),
    ("alert_supervisors", _("Alert the supervisors")),
)
BLANK_STEP_ROWS = 2


def _steps_rows(post, steps: list[dict]) -> list[dict]:
    """The rows of the steps editor: what was submitted (to show it again with its errors) or the steps in
    force in time order, plus empty rows to add a step."""
    if post is not None:
        rows = [
            {"after_seconds": a, "action": b, "value": c}
            for a, b, c in zip(
                post.getlist("step_after_seconds"),
                post.getlist("step_action"),
                post.getlist("step_value"),
                strict=False,
            )
        ]
    else:
        rows = [
            {"after_seconds": step.get("after_seconds"), "action": step.get("action"), "value": step.get("value")}
            for step in sorted(steps, key=lambda step: step.get("after_seconds") or 0)
        ]
    return rows + [{"after_seconds": "", "action": "relax_skill_level", "value": ""}] * BLANK_STEP_ROWS


def _policy_labels() -> dict:
    """Each policy field's plain name, for errors and the version history."""
    labels = {name: str(label) for name, label, _help in POLICY_NUMBERS}
    labels["escalation_steps"] = gettext("Escalation steps")
    labels["ranking_weights"] = gettext("Ranking weights")
    return labels


def _flatten_errors(errors, *, labels=None) -> list[str]:
    if not errors:
        return []
    flat = []
    for field, problems in dict(errors).items():
        if isinstance(problems, dict):
            problems = [f"{k}: {v}" for k, v in problems.items()]
        if not isinstance(problems, list | tuple):
            problems = [problems]
        label = "" if field == "__all__" else f"{(labels or {}).get(field, field)}: "
        flat += [f"{label}{problem}" for problem in problems]
    return flat
