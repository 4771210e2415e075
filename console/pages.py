"""The agent's console: server-rendered pages (home with the live offer and the work view, profile,
earnings) and the small reads and the one write they need.

The live parts (offers, tickets, messages) run in the browser over /ws/agent/ and the REST API
(agents/static/agents/*.js); these views render the first paint and the numbers an agent checks:
what they earned today, the surge, and how their share of offers compares with the pool.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.db.models import Count, DurationField, ExpressionWrapper, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language_from_request, gettext_lazy, ngettext, override
from django.utils.translation import gettext as _
from django.views.i18n import set_language

from agents.models import Agent, PresenceInterval, Role, Skill
from agents.permissions import role_required
from agents.selectors import agent_for_user, agent_languages, agent_skills, notification_preferences
from agents.services import (
    UI_LANGUAGES,
    agent_display_preferences_set,
    agent_notification_preferences_set,
    known_time_zones,
)
from agents.shifts import RELEASE_CUTOFF, claim_problems, shifts_upcoming
from core.errors import InvalidInput
from core.time import utc_day_start
from dispatch.models import Offer
from dispatch.surge import surge_current
from payouts.explanations import pay_line_explanation
from payouts.models import PayLine, PayoutItem, PayoutItemLine, PayoutItemStatus
from payouts.selectors import pay_line_list
from payouts.services import period_bounds

# --------------------------------------------------------------------------------------- reads


def agent_earnings_today(*, agent: Agent, now: dt.datetime | None = None) -> list[dict]:
    """Today's (UTC) pay per currency: [{"currency": "EUR", "amount": Decimal}] (empty when nothing yet)."""

    today = (now or timezone.now()).astimezone(dt.UTC).date()
    rows = (
        PayLine.objects.filter(agent=agent, created_at__gte=utc_day_start(today))
        .values("currency")
        .annotate(amount=Sum("amount"))
        .order_by("currency")
    )
    earned = [{"currency": row["currency"], "amount": row["amount"]} for row in rows]
    if not earned:
        from payouts.services import DEFAULT_CURRENCY

        earned = [{"currency": DEFAULT_CURRENCY, "amount": Decimal("0.00")}]
    return earned


# The fairness figure: offers per online hour over a recent window, from the offers made to the agent
# (Offer.created_at) and their online time (PresenceInterval rows clipped to the window). Below the
# sample floor it is said in words: one offer after a minute online is not "60 an hour". The pool's
# median is of the same figure, over the same window, for agents online at least the same minimum time.
OFFER_SHARE_WINDOW = dt.timedelta(days=7)
OFFER_SHARE_MIN_ONLINE_SECONDS = 3600
OFFER_SHARE_MIN_OFFERS = 5
POOL_MEDIAN_MIN_AGENTS = 3
POOL_OFFER_RATE_CACHE_KEY = "console:pool-offer-rate-median"
POOL_OFFER_RATE_CACHE_SECONDS = 300


def offers_and_online_seconds(
    *, since: dt.datetime, until: dt.datetime, agent_id=None
) -> dict[object, tuple[int, int]]:
    """{agent id: (offers made to them, seconds online)} between `since` and `until`, for every agent
    online in that time (or only `agent_id`), in one aggregate query."""

    intervals = PresenceInterval.objects.filter(started_at__lt=until).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=since)
    )
    if agent_id is not None:
        intervals = intervals.filter(agent_id=agent_id)
    offers = (
        Offer.objects.filter(agent_id=OuterRef("agent_id"), created_at__gte=since, created_at__lt=until)
        .order_by()
        .values("agent_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    online = ExpressionWrapper(
        Least(Coalesce("ended_at", Value(until)), Value(until)) - Greatest("started_at", Value(since)),
        output_field=DurationField(),
    )
    rows = (
        intervals.values("agent_id")
        .annotate(online=Sum(online), offers=Coalesce(Subquery(offers), 0))
        .order_by()
        .values_list("agent_id", "offers", "online")
    )
    return {agent: (offers, int(online.total_seconds()) if online else 0) for agent, offers, online in rows}


def _offer_rate(offers: int, online_seconds: int) -> float:
    return offers / (online_seconds / 3600)


def pool_median_offer_rate(*, since: dt.datetime, until: dt.datetime) -> tuple[float | None, int]:
    """The median offers per online hour of the agents online at least OFFER_SHARE_MIN_ONLINE_SECONDS
    in the window, and how many they are; None when fewer than POOL_MEDIAN_MIN_AGENTS."""
    rates = [
        _offer_rate(offers, seconds)
        for offers, seconds in offers_and_online_seconds(since=since, until=until).values()
        if seconds >= OFFER_SHARE_MIN_ONLINE_SECONDS
    ]
    return (median(rates) if len(rates) >= POOL_MEDIAN_MIN_AGENTS else None), len(rates)


def _pool_median_cached(now: dt.datetime) -> tuple[float | None, int]:
    """The pool median over the window ending now, computed at most every few minutes: every agent's
    console asks for it every minute, and a week-long figure does not move in five."""
    cached = cache.get(POOL_OFFER_RATE_CACHE_KEY)
    if cached is None:
        cached = pool_median_offer_rate(since=now - OFFER_SHARE_WINDOW, until=now)
        cache.set(POOL_OFFER_RATE_CACHE_KEY, cached, timeout=POOL_OFFER_RATE_CACHE_SECONDS)
    return tuple(cached)


def _online_words(seconds: int) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}
    return _("%(hours)s h %(minutes)s min") % {"hours": minutes // 60, "minutes": minutes % 60}


def _offer_share_text(share: dict) -> str:
    values = {
        "offers": share["offers"],
        "online": _online_words(share["online_seconds"]),
        "days": share["window_days"],
        "min_offers": OFFER_SHARE_MIN_OFFERS,
        "min_hours": OFFER_SHARE_MIN_ONLINE_SECONDS // 3600,
    }
    if share["rate"] is None:
        return (
            ngettext(
                "Too few offers yet to give a fair rate: %(offers)s offer in %(online)s online in the last %(days)s "
                "days. A rate shows from %(min_offers)s offers and %(min_hours)s online hour.",
                "Too few offers yet to give a fair rate: %(offers)s offers in %(online)s online in the last %(days)s "
                "days. A rate shows from %(min_offers)s offers and %(min_hours)s online hour.",
                share["offers"],
            )
            % values
        )
    values["rate"] = formats.number_format(share["rate"], 1)
    measured = (
        _("%(rate)s offers per online hour in the last %(days)s days (%(offers)s offers in %(online)s online).")
        % values
    )
    if share["pool_median"] is None:
        return measured + " " + _("Too few agents were online long enough in these days to compare with the pool.")
    values["median"] = formats.number_format(share["pool_median"], 1)
    return (
        measured
        + " "
        + _(
            "The pool's median: %(median)s, over the agents online at least %(min_hours)s hour in the same "
            "%(days)s days."
        )
        % values
    )


def agent_offer_share(*, agent: Agent, now: dt.datetime | None = None) -> dict:
    """The agent's offers per online hour over the last OFFER_SHARE_WINDOW against the pool's median
    over the same window (fairness made visible). `rate` is None below the sample floor, `percent` None
    without both figures; `text` says it in words either way."""
    now = now or timezone.now()
    since = now - OFFER_SHARE_WINDOW
    offers, online_seconds = offers_and_online_seconds(since=since, until=now, agent_id=agent.pk).get(agent.pk, (0, 0))
    enough = online_seconds >= OFFER_SHARE_MIN_ONLINE_SECONDS and offers >= OFFER_SHARE_MIN_OFFERS
    rate = _offer_rate(offers, online_seconds) if enough else None
    pool_median, pool_agents = _pool_median_cached(now) if enough else (None, 0)
    share = {
        "window_days": OFFER_SHARE_WINDOW.days,
        "offers": offers,
        "online_seconds": online_seconds,
        "rate": round(rate, 1) if rate is not None else None,
        "pool_median": round(pool_median, 1) if pool_median is not None else None,
        "pool_agents": pool_agents,
        "percent": round(100 * rate / pool_median) if rate is not None and pool_median else None,
    }
    share["text"] = _offer_share_text(share)
    return share


def surge_now() -> Decimal:

    return surge_current()


def console_summary(*, agent: Agent) -> dict:
    now = timezone.now()
    share = agent_offer_share(agent=agent, now=now)
    return {
        "earnings_today": [
            {"currency": row["currency"], "amount": f"{row['amount']:.2f}"}
            for row in agent_earnings_today(agent=agent, now=now)
        ],
        "surge": f"{surge_now():.2f}",
        "offer_share": {key: share[key] for key in ("rate", "pool_median", "percent")},
        "offer_share_text": share["text"],
    }


PAYOUT_STATE_LABELS = {
    "paid": gettext_lazy("Paid"),
    "approved": gettext_lazy("Approved, payment on its way"),
    "draft": gettext_lazy("In a payout being prepared"),
    "held": gettext_lazy("Held"),
    "open": gettext_lazy("Not paid out yet"),
}


# The ledger's kinds in the agent's language (payouts' choices carry English labels only).
PAY_LINE_KIND_LABELS = {
    "base": gettext_lazy("Base pay"),
    "time": gettext_lazy("Time"),
    "premium": gettext_lazy("Premiums"),
    "surge": gettext_lazy("Surge"),
    "floor_topup": gettext_lazy("Top-up to the offered estimate"),
    "quality_bonus": gettext_lazy("Quality bonus"),
    "adjustment": gettext_lazy("Adjustment"),
    "earnings_floor_topup": gettext_lazy("Earnings floor top-up"),
    "shift_guarantee_topup": gettext_lazy("Shift guarantee top-up"),
    "transfer_part": gettext_lazy("Your part before a transfer"),
}


@dataclass
class DayTotal:
    day: dt.date
    totals: dict = field(default_factory=lambda: defaultdict(Decimal))
    lines: list = field(default_factory=list)


@dataclass
class PeriodTotal:
    start: dt.date
    end: dt.date
    totals: dict = field(default_factory=lambda: defaultdict(Decimal))
    payout: dict = field(default_factory=lambda: defaultdict(Decimal))  # (state, currency) -> amount
    held_reasons: set = field(default_factory=set)
    days: list = field(default_factory=list)


def agent_earnings(*, agent: Agent, weeks: int = 12, now: dt.datetime | None = None) -> list[PeriodTotal]:
    """The agent's pay lines of the last `weeks` weekly pay periods, newest first, grouped by period and
    day, each line with its payout state (paid, approved, in a draft batch, held, not paid out yet)."""

    today = (now or timezone.now()).astimezone(dt.UTC).date()
    first_day = period_bounds(today)[0] - dt.timedelta(weeks=weeks - 1)
    lines = list(pay_line_list(agent_id=agent.pk, date_from=first_day).select_related("ticket")[:5000])
    paid_by = {
        row.line_id: row.item.batch
        for row in PayoutItemLine.objects.filter(line_id__in=[line.pk for line in lines]).select_related("item__batch")
    }
    held_items = list(
        PayoutItem.objects.filter(agent=agent, status=PayoutItemStatus.HELD, batch__period_end__gte=first_day)
        .select_related("batch")
        .order_by("-batch__created_at")
    )

    periods: dict[dt.date, PeriodTotal] = {}
    for line in lines:
        day = line.created_at.astimezone(dt.UTC).date()  # pay periods run Monday to Sunday in UTC
        start, end = period_bounds(day)
        period = periods.setdefault(start, PeriodTotal(start=start, end=end))
        # The day heading is the reader's, like the line's time under it (their zone is active).
        shown_day = timezone.localdate(line.created_at)
        if not period.days or period.days[-1].day != shown_day:
            period.days.append(DayTotal(day=shown_day))
        day_total = period.days[-1]
        batch = paid_by.get(line.pk)
        held = None
        if batch is None:
            held = next((item for item in held_items if item.batch.period_start <= day <= item.batch.period_end), None)
        state = batch.status if batch is not None else ("held" if held is not None else "open")
        line.kind_label = PAY_LINE_KIND_LABELS.get(line.kind) or line.get_kind_display()
        line.explanation_shown = pay_line_explanation(line)
        line.payout_state = state
        line.payout_label = PAYOUT_STATE_LABELS[state]
        line.payout_batch = batch
        line.held_reason = held.held_reason if held is not None else ""
        day_total.lines.append(line)
        day_total.totals[line.currency] += line.amount
        period.totals[line.currency] += line.amount
        period.payout[(state, line.currency)] += line.amount
        if held is not None and held.held_reason:
            period.held_reasons.add(held.held_reason)
    result = sorted(periods.values(), key=lambda p: p.start, reverse=True)
    for period in result:
        period.payout_rows = [
            {"state": state, "label": PAYOUT_STATE_LABELS[state], "currency": currency, "amount": amount}
            for (state, currency), amount in sorted(period.payout.items())
        ]
        period.totals = dict(period.totals)
        for day_total in period.days:
            day_total.totals = dict(day_total.totals)
    return result


# --------------------------------------------------------------------------------------- writes


class NotificationPreferencesForm(forms.Form):
    sound = forms.BooleanField(required=False, label=gettext_lazy("Play a sound when an offer arrives"))
    browser_notification = forms.BooleanField(
        required=False, label=gettext_lazy("Show a browser notification when the console is in the background")
    )
    vibrate = forms.BooleanField(required=False, label=gettext_lazy("Vibrate (phones that support it)"))


def _time_zone_choices():
    return [("", gettext_lazy("The browser's time zone")), *((zone, zone) for zone in sorted(known_time_zones()))]


class DisplayPreferencesForm(forms.Form):
    """The console's language and time zone; the service (agents.services) decides what is valid."""

    ui_language = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Language of the console"),
        # Each language named in itself: whoever cannot read the current one still finds theirs.
        choices=[("", gettext_lazy("The browser's language")), ("en", "English"), ("de", "Deutsch"), ("sv", "Svenska")],
    )
    time_zone = forms.ChoiceField(required=False, label=gettext_lazy("Time zone"), choices=_time_zone_choices)


# --------------------------------------------------------------------------------------- pages


def _agent(request) -> Agent:
    return agent_for_user(request.user)


def _console_strings() -> dict:
    """Texts the browser shows that are not in the page's HTML templates, in the request's language."""
    return {
        "online": _("Online"),
        "away": _("Away"),
        "offline": _("Offline"),
        "go_online": _("Go online"),
        "go_offline": _("Go offline"),
        "waiting_online": _("You are online. Offers appear here; keep this tab open."),
        "waiting_offline": _("You are offline and receive no offers. Go online when you have time."),
        "waiting_away": _("You are away and receive no offers."),
        "suspended": _("You are suspended and receive no offers."),
        "connecting": _("Connecting…"),
        "connection_lost": _("Connection lost. Reconnecting in {seconds} s…"),
        "reconnecting": _("Reconnecting…"),
        "offline_network": _("Your device is offline. We reconnect as soon as the network is back."),
        "reconnected": _("Connected again. Everything is up to date."),
        "retry_now": _("Retry now"),
        "withdrawn_expired": _("This offer expired."),
        "withdrawn_taken": _("Another agent took this one."),
        "withdrawn_cancelled": _("The customer left; the offer was withdrawn."),
        "withdrawn_gone": _("This offer is no longer available."),
        "offer_unavailable": _("Another agent took this one. Back to waiting."),
        "accepting": _("Accepting…"),
        "declining": _("Declining…"),
        "seconds_left": _("{seconds} s left"),
        "expired": _("Expired"),
        "new_offer": _("New offer"),
        "new_offer_body": _("{language} · {pay} · {summary}"),
        "new_message": _("New message from the customer"),
        "priority": _("Priority {priority}"),
        "surge": _("surge ×{surge}"),
        "send_failed": _("Could not send. Your text is kept; try again."),
        "resolved": _("Ticket resolved. Its pay will appear on your earnings page in a moment."),
        "handed_back": _("Ticket handed back to the bot."),
        "ticket_gone": _("This ticket is no longer assigned to you."),
        "load_failed": _("Could not load the ticket. Retrying…"),
        "customer": _("Customer"),
        "bot": _("Bot"),
        "agent": _("You"),
        "system": _("System"),
        "yes": _("yes"),
        "no": _("no"),
        "none": _("none"),
        "vip": _("VIP"),
        "vulnerable": _("vulnerable customer"),
        "required": _("This field is required."),
        "iban_checksum": _("This IBAN is not valid: check the digits (the checksum does not match)."),
        "iban_short": _("This IBAN is too short."),
        "saved": _("Saved."),
        "error_generic": _("Something went wrong. Please try again."),
        "on_break": _("On a break"),
        "no_new_work": _("No new work"),
        "break": _("On a break"),
        "waiting_break": _("You are on a break and receive no offers."),
        "waiting_no_new_work": _("You finish the tickets you hold and receive no new offers."),
        "break_left": _("On a break ({reason}): {time} left"),
        "break_over": _("Your break ({reason}) is over. Back online when you are ready."),
        "transfer_from": _("Transfer from {name}: {note}"),
        "transfer_from_no_note": _("Transfer from {name}"),
        "transfer_pending": _("Waiting for a colleague to accept… You keep the customer until then."),
        "transferred": _("Your colleague accepted the transfer; the ticket is theirs now."),
        "transfer_withdrawn": _("You withdrew the transfer; you keep the customer."),
        "transfer_any_language": _("The customer's language"),
        "note_added": _("Note added."),
        "supervisor_note": _("A supervisor left a note on {customer}: {text}"),
        "no_history": _("No earlier tickets in the last 90 days."),
        "no_notes": _("No notes yet."),
        "no_canned": _("No canned response matches."),
        "outcomes": {
            "solved": _("Solved"),
            "not_solved": _("Not solved"),
            "": _("No outcome"),
        },
        "statuses": {
            "resolved": _("Resolved"),
            "handed_back": _("Handed back to the bot"),
            "cancelled": _("Cancelled"),
            "assigned": _("Being served"),
            "queued": _("Waiting"),
            "offered": _("Waiting"),
        },
        "reasons": {
            "customer_request": _("Customer asked for a person"),
            "negative_sentiment": _("Upset customer"),
            "complex_case": _("Complex case"),
            "sensitive": _("Sensitive topic"),
            "bot_low_confidence": _("Bot unsure"),
            "policy": _("Policy requires a person"),
        },
    }


@role_required(Role.AGENT)
def home(request):
    agent = _agent(request)
    now = timezone.now()
    context = {
        "agent": agent,
        "earnings_today": agent_earnings_today(agent=agent, now=now),
        "surge": surge_now(),
        "offer_share": agent_offer_share(agent=agent, now=now),
        "console_config": {
            "wsPath": "/ws/agent/",
            "summaryUrl": reverse("agent-summary"),
            "earningsUrl": reverse("agent-earnings"),
            "loginUrl": reverse("login"),
            "preferences": notification_preferences(agent),
            "strings": _console_strings(),
            "agentName": agent.display_name,
            "presence": agent.presence,
            "presenceReason": agent.presence_reason,
            "breakUntil": agent.break_until.isoformat() if agent.break_until else None,
            "transferLanguages": ["de", "en", "sv"],
            "transferSkills": list(Skill.objects.order_by("code").values_list("code", flat=True)),
        },
        "nav": "home",
    }
    return render(request, "console/home.html", context)


@role_required(Role.AGENT)
def summary(request):
    return JsonResponse(console_summary(agent=_agent(request)))


@role_required(Role.AGENT)
def profile(request):
    agent = _agent(request)
    form = NotificationPreferencesForm(initial=notification_preferences(agent))
    display_form = DisplayPreferencesForm(initial={"ui_language": agent.ui_language, "time_zone": agent.time_zone})
    if request.method == "POST" and request.POST.get("form") == "display":
        display_form = DisplayPreferencesForm(request.POST)
        if display_form.is_valid():
            try:
                agent_display_preferences_set(agent=agent, **display_form.cleaned_data)
            except InvalidInput as error:
                for name, problems in error.fields.items():
                    display_form.add_error(name if name in display_form.fields else None, problems)
            else:
                # Said in the language just chosen (or the browser's), as the next page will be.
                with override(agent.ui_language or get_language_from_request(request)):
                    messages.success(request, _("Your language and time zone are saved."))
                return redirect("agent-profile")
    elif request.method == "POST":
        form = NotificationPreferencesForm(request.POST)
        if form.is_valid():
            agent_notification_preferences_set(agent=agent, **form.cleaned_data)
            messages.success(request, _("Your notification preferences are saved."))
            return redirect("agent-profile")
    context = {
        "agent": agent,
        "languages": agent_languages(agent),
        "skills": agent_skills(agent),
        "skill_rows": sorted(agent.skill_levels.all(), key=lambda row: row.skill.code),
        "form": form,
        "display_form": display_form,
        "payout_ok": agent.has_valid_payout_details,
        "profile_config": {"strings": _console_strings(), "payoutUrl": "/api/v1/me/payout-details/"},
        "nav": "profile",
    }
    return render(request, "console/profile.html", context)


def agent_shifts(*, agent: Agent, now: dt.datetime | None = None) -> list:
    """Upcoming shifts (agents.shifts, read-only) with what this agent may do about each."""

    now = now or timezone.now()
    rows = []
    for shift in shifts_upcoming(now=now):
        shift.booked_by_me = any(booking.agent_id == agent.pk for booking in shift.bookings.all())
        shift.places_left = shift.places - shift.booked_count
        shift.release_until = shift.starts_at - RELEASE_CUTOFF
        shift.can_release = shift.booked_by_me and now <= shift.release_until and shift.cancelled_at is None
        shift.problems = [] if shift.booked_by_me else claim_problems(shift=shift, agent=agent, now=now)
        shift.can_claim = not shift.booked_by_me and not shift.problems and shift.places_left > 0
        rows.append(shift)
    return rows


@role_required(Role.AGENT)
def shifts(request):

    agent = _agent(request)
    context = {
        "agent": agent,
        "shifts": agent_shifts(agent=agent),
        "release_cutoff_hours": int(RELEASE_CUTOFF.total_seconds() // 3600),
        "shifts_config": {"strings": _console_strings()},
        "nav": "shifts",
    }
    return render(request, "console/shifts.html", context)


@role_required(Role.AGENT)
def earnings(request):
    agent = _agent(request)
    periods = agent_earnings(agent=agent)
    context = {"agent": agent, "periods": periods, "nav": "earnings"}
    return render(request, "console/earnings.html", context)


@role_required(Role.AGENT)
def language_set(request):
    """The header's language select on the agent's pages. With a language in their profile, the agent's
    choice here becomes the profile's (otherwise the profile would win and the choice do nothing);
    without one, it is the browser's choice (Django's cookie), as for everyone else."""
    agent = _agent(request)
    chosen = request.POST.get("language", "")
    if request.method == "POST" and agent.ui_language and chosen in UI_LANGUAGES:
        agent_display_preferences_set(agent=agent, ui_language=chosen)
    return set_language(request)
