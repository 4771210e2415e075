"""How long the platform keeps what it records about agents, and the job that holds it to that.

The periods are the ones the algorithm notice promises (actions.notice builds its "what we record and for
how long" table from these constants), so the promise and the deletion cannot drift apart:

- presence: online intervals and connection rows, 90 days after they ended (a booked shift's stretches
  live on in its settlement, a pay record);
- offers (with the agent's answer and the decision record), 12 months after they were made;
- tickets' contents (messages, transcript, summary, hand-off, resolution notes, bot feedback, the CSAT
  rating and comment, the customer's name), 24 months after the ticket closed: the text is replaced,
  the ticket row stays, because pay lines point at it; its webhook bodies and alerts go with it;
- appeals (decisions about an agent), 5 years after the decision;
- pay lines, payout batches and the audit log: 10 and 5 years. They are append-only in the database and
  nothing of them is old enough yet; the job leaves them alone.

retention_enforce deletes or anonymises what is past its period in small transactions, so running it
twice, or after an interrupted run, is harmless and cheap.
"""

import calendar
import datetime as dt
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop, ngettext

from agents.models import AgentConnection, PresenceInterval, SuspensionAppeal
from dispatch.models import Offer, OfferStatus, SupervisorAlert
from tickets.models import Message, Ticket, WebhookDelivery, WebhookDeliveryStatus


@dataclass(frozen=True)
class RetentionPeriod:
    amount: int
    unit: str  # "days", "months" or "years"

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        """The oldest moment still inside the period: what ended before it is past it."""
        if self.unit == "days":
            return now - dt.timedelta(days=self.amount)
        months = self.amount * (12 if self.unit == "years" else 1)
        month_index = now.year * 12 + now.month - 1 - months
        year, month = divmod(month_index, 12)
        day = min(now.day, calendar.monthrange(year, month + 1)[1])
        return now.replace(year=year, month=month + 1, day=day)

    def in_words(self) -> str:
        words = {
            "days": ngettext("%(count)d day", "%(count)d days", self.amount),
            "months": ngettext("%(count)d month", "%(count)d months", self.amount),
            "years": ngettext("%(count)d year", "%(count)d years", self.amount),
        }[self.unit]
        return words % {"count": self.amount}

    def as_dict(self) -> dict:
        return {"amount": self.amount, "unit": self.unit}


PRESENCE_RETENTION = RetentionPeriod(90, "days")
OFFER_RETENTION = RetentionPeriod(12, "months")
TICKET_CONTENT_RETENTION = RetentionPeriod(24, "months")
PAY_RECORD_RETENTION = RetentionPeriod(10, "years")
DECISION_RETENTION = RetentionPeriod(5, "years")

# What an anonymised ticket's texts read. Stored data, not a translated label.
REMOVED_TEXT = "[removed after the retention period]"
BATCH_SIZE = 1000
RUN_BUDGET_SECONDS = 60.0  # well inside the Celery time limit; the next run continues


# The notice's table of what is recorded and for how long: (what, its period, how the period reads). Stored
# in each notice version as English source text with the period as data, and translated when shown.
RECORDED_DATA = [
    (gettext_noop("Presence (online, away, offline) and open connections"), PRESENCE_RETENTION, ""),
    (
        gettext_noop(
            "When you went online and when you left (online intervals), for shift guarantees; the stretches "
            "inside a booked shift are also kept with its settlement"
        ),
        PRESENCE_RETENTION,
        gettext_noop("%(period)s; with the settlement as pay records"),
    ),
    (gettext_noop("Offers made to you, your answers and response times"), OFFER_RETENTION, ""),
    (
        gettext_noop("Tickets you handled, messages, resolution notes, customer ratings (CSAT)"),
        TICKET_CONTENT_RETENTION,
        gettext_noop("%(period)s after the ticket closed; then their texts and ratings are removed"),
    ),
    (
        gettext_noop("Pay lines, payout batches and payout details"),
        PAY_RECORD_RETENTION,
        gettext_noop("%(period)s (accounting and tax law)"),
    ),
    (
        gettext_noop("Decisions about you (suspension, reinstatement, skill certification), with who decided"),
        DECISION_RETENTION,
        "",
    ),
]


def recorded_data_snapshot() -> list[dict]:
    """RECORDED_DATA as a notice version stores it: English text, and the period as data."""
    with translation.override("en"):
        return [
            {
                "what": what,
                "kept": recorded_period_text({"period": period.as_dict(), "kept_note": note}),
                "period": period.as_dict(),
                "kept_note": note,
            }
            for what, period, note in RECORDED_DATA
        ]


def recorded_period_text(row: dict) -> str:
    """How long a row of a notice's table is kept, in the reader's language (a version stored before the
    periods were data has its English text only)."""
    if "period" not in row:
        return row.get("kept", "")
    period = RetentionPeriod(**row["period"]).in_words()
    note = row.get("kept_note")
    return gettext(note) % {"period": period} if note else period


class _Budget:
    def __init__(self, seconds: float | None):
        self.deadline = None if seconds is None else time.monotonic() + seconds

    @property
    def spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


def _delete_in_batches(queryset, budget: _Budget) -> int:
    deleted = 0
    while not budget.spent:
        pks = list(queryset.order_by().values_list("pk", flat=True)[:BATCH_SIZE])
        if not pks:
            break
        with transaction.atomic():
            deleted += queryset.model.objects.filter(pk__in=pks).delete()[1].get(queryset.model._meta.label, 0)
    return deleted


def _anonymise_tickets(tickets, budget: _Budget) -> int:
    """Replace the contents of `tickets`, a batch at a time; the summary doubles as the done-marker."""
    anonymised = 0
    pending = tickets.exclude(summary=REMOVED_TEXT)
    while not budget.spent:
        batch = list(pending.order_by().values_list("pk", "bot_feedback")[:BATCH_SIZE])
        if not batch:
            break
        pks = [pk for pk, _ in batch]
        with transaction.atomic():
            Message.objects.filter(ticket_id__in=pks).exclude(text=REMOVED_TEXT).update(text=REMOVED_TEXT)
            WebhookDelivery.objects.filter(ticket_id__in=pks).exclude(status=WebhookDeliveryStatus.PENDING).delete()
            SupervisorAlert.objects.filter(ticket_id__in=pks).delete()
            for pk, feedback in batch:
                # Whether the escalation was avoidable is a yes or no that the bot's statistics count; the
                # comment is text and goes.
                kept = {k: v for k, v in (feedback or {}).items() if k == "escalation_avoidable"}
                Ticket.objects.filter(pk=pk).update(
                    summary=REMOVED_TEXT,
                    customer_display_name="",
                    handoff={},
                    skill_inference=[],
                    resolution_notes="",
                    bot_feedback=kept,
                    csat_score=None,
                    csat_comment="",
                )
        anonymised += len(batch)
    return anonymised


def retention_enforce(*, now: dt.datetime | None = None, budget_seconds: float | None = None) -> dict[str, int]:
    """Delete or anonymise everything past its retention period (the periods above, which the algorithm
    notice states). Returns how many rows of each kind it handled. Safe to run twice: what is done no
    longer matches. With `budget_seconds` it stops after about that long; the next run continues.

    Never touches the ledger, payout items or the audit log (append-only, long periods)."""
    now = now or timezone.now()
    budget = _Budget(budget_seconds)
    presence_cutoff = PRESENCE_RETENTION.cutoff(now)
    offer_cutoff = OFFER_RETENTION.cutoff(now)
    ticket_cutoff = TICKET_CONTENT_RETENTION.cutoff(now)
    return {
        "presence_intervals": _delete_in_batches(PresenceInterval.objects.filter(ended_at__lt=presence_cutoff), budget),
        "connections": _delete_in_batches(AgentConnection.objects.filter(last_seen_at__lt=presence_cutoff), budget),
        "offers": _delete_in_batches(
            Offer.objects.filter(created_at__lt=offer_cutoff).exclude(status=OfferStatus.PENDING), budget
        ),
        "tickets_anonymised": _anonymise_tickets(Ticket.objects.filter(closed_at__lt=ticket_cutoff), budget),
        "appeals": _delete_in_batches(
            SuspensionAppeal.objects.filter(
                ~Q(status=SuspensionAppeal.Status.PENDING), decided_at__lt=DECISION_RETENTION.cutoff(now)
            ),
            budget,
        ),
    }
