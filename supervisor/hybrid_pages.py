"""The "Bot and people" page (/supervisor/hybrid/): the hybrid figures (tickets.hybrid, the same report
as GET /api/v1/quality/hybrid/) and the coaching view (tickets.coaching) with its "sent to the bot
team" mark. Kept apart from pages.py: one page, one module.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from agents.models import Role
from agents.permissions import role_required
from core.errors import DomainError
from tickets.coaching import coaching_group_mark_sent, coaching_groups
from tickets.hybrid import MIN_SAMPLE, hybrid_period, hybrid_report
from tickets.models import EscalationReason

FLASH_KEY = "supervisor_flash"  # the same slot as the other supervisor pages (pages._render shows it)


def _rate_cell(value, sample: int, *, kind: str) -> dict:
    """A rate as the page shows it: '–' with no sample, the count ('n=3') below MIN_SAMPLE (a percentage
    of three says nothing), else the percentage or the mean score."""
    if not sample or value is None:
        return {"text": "–", "low": False, "title": gettext("No sample.")}
    exact = f"{value * 100:.1f}%" if kind == "share" else f"{value:.2f}"
    if sample < MIN_SAMPLE:
        return {
            "text": f"n={sample}",
            "low": True,
            "title": gettext("Too few to show a rate: %(value)s of %(n)s.") % {"value": exact, "n": sample},
        }
    text = f"{value * 100:.0f}%" if kind == "share" else f"{value:.1f}"
    return {"text": text, "low": False, "title": gettext("Of %(n)s.") % {"n": sample}}


def _cells(row: dict) -> dict:
    samples = row["samples"]
    return {
        **row,
        "containment": _rate_cell(row["containment_rate"], samples["containment_rate"], kind="share"),
        "bot_csat_cell": _rate_cell(row["bot_csat"], samples["bot_csat"], kind="score"),
        "human_csat_cell": _rate_cell(row["human_csat"], samples["human_csat"], kind="score"),
        "avoidable": _rate_cell(row["avoidable_share"], samples["avoidable_share"], kind="share"),
        "repeat": _rate_cell(row["repeat_contact_rate_7d"], samples["repeat_contact_rate_7d"], kind="share"),
    }


def _period(params):
    return hybrid_period(
        raw_from=params.get("from"), raw_to=params.get("to"), raw_tz=params.get("tz"), now=timezone.now()
    )


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def hybrid_page(request):
    if request.method == "POST":
        query = {k: request.POST.get(k, "") for k in ("from", "to", "tz") if request.POST.get(k)}
        try:
            period_from, period_to, _ = _period(request.POST)
            mark = coaching_group_mark_sent(
                topic=request.POST.get("topic", ""),
                reason=request.POST.get("reason", ""),
                period_from=period_from,
                period_to=period_to,
                actor=request.user,
            )
        except DomainError as exc:
            problems = "; ".join(f"{field}: {' '.join(map(str, p))}" for field, p in (exc.fields or {}).items())
            request.session[FLASH_KEY] = {"kind": "error", "text": problems or exc.message}
        else:
            request.session[FLASH_KEY] = {
                "kind": "ok",
                "text": gettext("Marked as sent to the bot team: %(tickets)s tickets.") % {"tickets": mark.tickets},
            }
        return redirect(reverse("supervisor-hybrid") + ("?" + urlencode(query) if query else ""))

    errors = None
    try:
        period_from, period_to, zone = _period(request.GET)
    except DomainError as exc:
        errors = exc.fields
        period_from, period_to, zone = _period({})
    report = hybrid_report(period_from=period_from, period_to=period_to, time_zone=zone)
    reasons = dict(EscalationReason.choices)
    groups = coaching_groups(period_from=period_from, period_to=period_to)
    for group in groups:
        group["reason_label"] = reasons.get(group["reason"], group["reason"])
    flash = request.session.pop(FLASH_KEY, None)
    last_day = timezone.localtime(period_to, report_zone(zone)) - timedelta(microseconds=1)
    return render(
        request,
        "supervisor/hybrid.html",
        {
            "section": "hybrid",
            "flash": flash,
            "errors": errors,
            "report": report,
            "total": _cells(report["total"]),
            "by_language": [_cells(row) for row in report["by_language"]],
            "by_topic": [_cells(row) for row in report["by_topic"]],
            "by_day": [_cells(row) for row in report["by_day"]],
            "groups": groups,
            "min_sample": MIN_SAMPLE,
            "period_from_day": timezone.localtime(period_from, report_zone(zone)).date().isoformat(),
            "period_to_day": last_day.date().isoformat(),
            "zone": zone,
            "export_query": urlencode({"from": period_from.isoformat(), "to": period_to.isoformat()}),
        },
    )


def report_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
