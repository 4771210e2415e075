"""The hybrid figures: the bot and the people measured side by side (GET /api/v1/quality/hybrid/ and the
supervisor's "Bot and people" page read the same report).

Over a period [from, to): the conversations the bot reported as started in it, and the escalations
(tickets) created in it. Each row (per language, per topic, in total, per day) holds:

- conversations: conversations reported;  contained: those the bot finished alone;
- containment_rate = contained / conversations;
- bot_csat: mean CSAT of the contained conversations that have one (the bot alone);
- human_csat: mean CSAT of the escalations that have one (a person served them);
- escalations: tickets created;  handed_back: of those, how many the agent handed back to the bot;
- avoidable_share: of the escalations whose agent gave bot feedback, the share marked avoidable;
- repeat_contact_rate_7d: of the conversations with a known customer (customer_ref as reported, else
  that of its escalation), the share whose customer started another conversation within 7 days after.

A ticket's topic is its own, else its conversation's; its language is its own. `samples` gives each
rate's denominator: below MIN_SAMPLE a rate says little, and the page shows the count ("n=3") instead.
"""

import datetime as dt
from collections import defaultdict
from statistics import mean
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InvalidInput
from tickets.models import Conversation, ConversationOutcome, Ticket, TicketStatus

MIN_SAMPLE = 10
REPEAT_WINDOW = dt.timedelta(days=7)
NO_TOPIC = ""

RATE_FIELDS = ("containment_rate", "bot_csat", "human_csat", "avoidable_share", "repeat_contact_rate_7d")
DEFAULT_PERIOD = dt.timedelta(days=30)


def hybrid_period(*, raw_from: str | None, raw_to: str | None, raw_tz: str | None, now: dt.datetime):
    """The period and time zone a reader asked for: ISO dates (the `to` day included) or datetimes with an
    offset; default the last 30 days. 400 naming the parameter when it is not understood."""
    errors = {}
    zone_name = raw_tz or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        errors["tz"] = ["Give an IANA time zone, e.g. Europe/Berlin."]
        zone = ZoneInfo("UTC")

    def bound(name, raw, default, *, end=False):
        if not raw:
            return default
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            day = None
        if day is not None:
            return dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tzinfo=zone)
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            errors[name] = ["Give an ISO 8601 date or a datetime with its UTC offset."]
            return default
        return value

    period_to = bound("to", raw_to, now, end=True)
    period_from = bound("from", raw_from, period_to - DEFAULT_PERIOD)
    if not errors and period_from >= period_to:
        errors["to"] = ["The end of the period must be after its start."]
    if errors:
        raise InvalidInput(errors)
    return period_from, period_to, zone_name


class _Bucket:
    def __init__(self):
        self.conversations = 0
        self.contained = 0
        self.bot_csat: list[int] = []
        self.human_csat: list[int] = []
        self.escalations = 0
        self.handed_back = 0
        self.with_feedback = 0
        self.avoidable = 0
        self.known_customer = 0
        self.repeated = 0

    def row(self) -> dict:
        def share(part, whole):
            return round(part / whole, 4) if whole else None

        return {
            "conversations": self.conversations,
            "contained": self.contained,
            "containment_rate": share(self.contained, self.conversations),
            "bot_csat": round(mean(self.bot_csat), 2) if self.bot_csat else None,
            "human_csat": round(mean(self.human_csat), 2) if self.human_csat else None,
            "escalations": self.escalations,
            "avoidable_share": share(self.avoidable, self.with_feedback),
            "handed_back": self.handed_back,
            "repeat_contact_rate_7d": share(self.repeated, self.known_customer),
            "samples": {
                "containment_rate": self.conversations,
                "bot_csat": len(self.bot_csat),
                "human_csat": len(self.human_csat),
                "avoidable_share": self.with_feedback,
                "repeat_contact_rate_7d": self.known_customer,
            },
        }


def hybrid_report(*, period_from: dt.datetime, period_to: dt.datetime, time_zone: str = "UTC") -> dict:
    """The hybrid figures over [period_from, period_to) (see the module's docstring); days are counted in
    `time_zone` (the reader's). A handful of queries whatever the period."""
    zone = ZoneInfo(time_zone or "UTC")
    # Conversations up to 7 days past the period: the repeat contacts of the period's last week.
    reported = list(
        Conversation.objects.filter(started_at__gte=period_from, started_at__lt=period_to + REPEAT_WINDOW).values_list(
            "integration_id", "external_id", "language", "topic", "outcome", "csat", "customer_ref", "started_at"
        )
    )
    escalated = list(
        Ticket.objects.filter(created_at__gte=period_from, created_at__lt=period_to).values_list(
            "integration_id",
            "conversation_id",
            "language",
            "topic",
            "status",
            "csat_score",
            "bot_feedback",
            "created_at",
        )
    )
    # A conversation's customer and topic as its escalations know them (the bot may report neither).
    linked = {(row[0], row[1]) for row in reported}
    ticket_ref: dict = {}
    if linked:
        rows = Ticket.objects.filter(
            integration_id__in={key[0] for key in linked}, conversation_id__in={key[1] for key in linked}
        ).values_list("integration_id", "conversation_id", "customer_ref")
        for integration_id, conversation_id, customer_ref in rows:
            ticket_ref.setdefault((integration_id, conversation_id), customer_ref)
    conversation_topic = {(row[0], row[1]): row[3] for row in reported}
    if escalated:
        missing = {(row[0], row[1]) for row in escalated if row[1] and (row[0], row[1]) not in conversation_topic}
        if missing:
            for integration_id, external_id, topic in Conversation.objects.filter(
                integration_id__in={key[0] for key in missing}, external_id__in={key[1] for key in missing}
            ).values_list("integration_id", "external_id", "topic"):
                conversation_topic[(integration_id, external_id)] = topic

    starts_of_customer = defaultdict(list)
    for integration_id, external_id, _, _, _, _, customer_ref, started_at in reported:
        ref = customer_ref or ticket_ref.get((integration_id, external_id), "")
        if ref:
            starts_of_customer[(integration_id, ref)].append(started_at)

    total = _Bucket()
    by_language, by_topic, by_day = defaultdict(_Bucket), defaultdict(_Bucket), defaultdict(_Bucket)

    def buckets(language, topic, moment):
        return (total, by_language[language], by_topic[topic or NO_TOPIC], by_day[moment.astimezone(zone).date()])

    for integration_id, external_id, language, topic, outcome, csat, customer_ref, started_at in reported:
        if started_at >= period_to:
            continue
        ref = customer_ref or ticket_ref.get((integration_id, external_id), "")
        repeated = bool(ref) and any(
            started_at < later <= started_at + REPEAT_WINDOW for later in starts_of_customer[(integration_id, ref)]
        )
        for bucket in buckets(language, topic, started_at):
            bucket.conversations += 1
            if outcome == ConversationOutcome.CONTAINED:
                bucket.contained += 1
                if csat is not None:
                    bucket.bot_csat.append(csat)
            if ref:
                bucket.known_customer += 1
                bucket.repeated += int(repeated)

    for integration_id, conversation_id, language, topic, status, csat, feedback, created_at in escalated:
        topic = topic or conversation_topic.get((integration_id, conversation_id), "")
        flag = (feedback or {}).get("escalation_avoidable")
        for bucket in buckets(language, topic, created_at):
            bucket.escalations += 1
            bucket.handed_back += int(status == TicketStatus.HANDED_BACK)
            if csat is not None:
                bucket.human_csat.append(csat)
            if isinstance(flag, bool):
                bucket.with_feedback += 1
                bucket.avoidable += int(flag)

    return {
        "from": period_from,
        "to": period_to,
        "time_zone": str(zone),
        "min_sample": MIN_SAMPLE,
        "total": total.row(),
        "by_language": [{"language": key, **by_language[key].row()} for key in sorted(by_language)],
        "by_topic": [{"topic": key, **by_topic[key].row()} for key in sorted(by_topic)],
        "by_day": [{"day": key.isoformat(), **by_day[key].row()} for key in sorted(by_day)],
    }
