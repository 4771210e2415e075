"""The retention job keeps every period the algorithm notice promises: what is just past its period is
deleted or anonymised, what is just inside is kept, the ledger and the audit log are left alone, and a
second run changes nothing."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from actions import retention
from actions.notice import algorithm_notice_current
from actions.tasks import retention_enforce_task
from agents.models import AgentConnection, PresenceInterval, SuspensionAppeal
from core.models import AuditEntry
from dispatch.models import Offer, SupervisorAlert
from dispatch.policy import policy_current
from payouts.models import PayLine
from tests.factories import AgentFactory, TicketFactory, UserFactory
from tests.payouts.factories import PayLineFactory
from tickets.models import Message, Ticket, WebhookDelivery
from tickets.webhooks import webhook_event_record

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
MINUTE = dt.timedelta(minutes=1)


def past(period) -> dt.datetime:
    return period.cutoff(NOW) - MINUTE


def inside(period) -> dt.datetime:
    # Hours, not a minute, inside: NOW is taken when the module is imported, and the job runs later in a
    # long test session (a minute inside at import would be past by then).
    return period.cutoff(NOW) + dt.timedelta(hours=6)


def presence_rows(agent, ended_at):
    interval = PresenceInterval.objects.create(
        agent=agent, started_at=ended_at - dt.timedelta(hours=2), ended_at=ended_at
    )
    connection = AgentConnection.objects.create(
        channel_name=f"ch-{ended_at.timestamp()}", agent=agent, last_seen_at=ended_at
    )
    return interval, connection


def offer_made(agent, created_at) -> Offer:
    return Offer.objects.create(
        ticket=TicketFactory(),
        agent=agent,
        status="declined",
        decline_reason="busy",
        created_at=created_at,
        expires_at=created_at + dt.timedelta(seconds=20),
        pay_estimate_amount=Decimal("3.00"),
        pay_estimate_currency="EUR",
        policy=policy_current(),
    )


def closed_ticket(agent, closed_at) -> Ticket:
    """A resolved ticket with everything personal a ticket holds, a webhook, an alert and a pay line."""
    ticket = TicketFactory(customer_display_name="Anna Kundin", summary="Anna was charged twice")
    Ticket.objects.filter(pk=ticket.pk).update(
        status="resolved",
        assigned_agent=agent,
        assigned_at=closed_at - dt.timedelta(minutes=10),
        resolved_at=closed_at,
        closed_at=closed_at,
        handoff={"verified_facts": {"iban_last4": "3000"}},
        resolution_notes="Refunded Anna",
        bot_feedback={"escalation_avoidable": True, "comment": "Anna asked for a person"},
        csat_score=5,
        csat_comment="Thanks, Mia!",
    )
    ticket.refresh_from_db()
    for seq, (kind, text) in enumerate([("customer", "I am Anna"), ("agent", "Hello Anna")], start=1):
        Message.objects.create(ticket=ticket, seq=seq, author_kind=kind, text=text, at=closed_at - MINUTE)
    webhook_event_record(ticket=ticket, event="ticket.message", data={"message": {"text": "Hello Anna"}})
    SupervisorAlert.objects.create(kind="ticket_waiting", ticket=ticket, message="Anna's ticket waited")
    PayLineFactory(agent=agent, ticket=ticket, kind="base", amount=Decimal("2.00"), explanation="Base pay")
    return ticket


def appeal_decided(agent, decided_at) -> SuspensionAppeal:
    appeal = SuspensionAppeal.objects.create(agent=agent, text="Please", status="upheld", decision_reason="No")
    SuspensionAppeal.objects.filter(pk=appeal.pk).update(decided_at=decided_at, decided_by=UserFactory())
    return appeal


@pytest.fixture
def records():
    agent = AgentFactory(display_name="Mia")
    return {
        "past": {
            "presence": presence_rows(agent, past(retention.PRESENCE_RETENTION)),
            "offer": offer_made(agent, past(retention.OFFER_RETENTION)),
            "ticket": closed_ticket(agent, past(retention.TICKET_CONTENT_RETENTION)),
            "appeal": appeal_decided(agent, past(retention.DECISION_RETENTION)),
        },
        "inside": {
            "presence": presence_rows(agent, inside(retention.PRESENCE_RETENTION)),
            "offer": offer_made(agent, inside(retention.OFFER_RETENTION)),
            "ticket": closed_ticket(agent, inside(retention.TICKET_CONTENT_RETENTION)),
            "appeal": appeal_decided(agent, inside(retention.DECISION_RETENTION)),
        },
        "open_interval": PresenceInterval.objects.create(agent=agent, started_at=NOW - dt.timedelta(days=400)),
    }


def test_what_is_past_its_period_goes_and_what_is_inside_stays(records):
    lines_before = list(PayLine.objects.order_by("pk").values())
    audit_before = AuditEntry.objects.count()

    done = retention.retention_enforce(now=NOW)

    assert done == {"presence_intervals": 1, "connections": 1, "offers": 1, "tickets_anonymised": 1, "appeals": 1}
    gone, kept = records["past"], records["inside"]
    assert not PresenceInterval.objects.filter(pk=gone["presence"][0].pk).exists()
    assert not AgentConnection.objects.filter(pk=gone["presence"][1].pk).exists()
    assert not Offer.objects.filter(pk=gone["offer"].pk).exists()
    assert not SuspensionAppeal.objects.filter(pk=gone["appeal"].pk).exists()
    assert PresenceInterval.objects.filter(pk=kept["presence"][0].pk).exists()
    assert AgentConnection.objects.filter(pk=kept["presence"][1].pk).exists()
    assert Offer.objects.filter(pk=kept["offer"].pk).exists()
    assert SuspensionAppeal.objects.filter(pk=kept["appeal"].pk).exists()
    assert PresenceInterval.objects.filter(pk=records["open_interval"].pk).exists()  # still online: not ended

    # The old ticket stays (pay lines point at it) with nothing personal left in it.
    old = Ticket.objects.get(pk=gone["ticket"].pk)
    assert (old.summary, old.customer_display_name, old.resolution_notes, old.csat_comment) == (
        retention.REMOVED_TEXT,
        "",
        "",
        "",
    )
    assert old.handoff == {} and old.bot_feedback == {"escalation_avoidable": True} and old.csat_score is None
    assert set(old.messages.values_list("text", flat=True)) == {retention.REMOVED_TEXT}
    assert not WebhookDelivery.objects.filter(ticket=old).exists()
    assert not SupervisorAlert.objects.filter(ticket=old).exists()
    assert "Anna" not in str(Ticket.objects.filter(pk=old.pk).values().get())
    # The recent one is as it was.
    recent = Ticket.objects.get(pk=kept["ticket"].pk)
    assert recent.summary == "Anna was charged twice" and recent.csat_comment == "Thanks, Mia!"
    assert set(recent.messages.values_list("text", flat=True)) == {"I am Anna", "Hello Anna"}
    assert WebhookDelivery.objects.filter(ticket=recent).count() == 1
    assert SupervisorAlert.objects.filter(ticket=recent).count() == 1

    # The ledger and the audit log (append-only, kept 10 and 5 years) are untouched.
    assert list(PayLine.objects.order_by("pk").values()) == lines_before
    assert AuditEntry.objects.count() == audit_before


def test_running_twice_is_harmless(records):
    retention.retention_enforce(now=NOW)
    tickets = list(Ticket.objects.order_by("pk").values())
    messages = list(Message.objects.order_by("pk").values())

    again = retention.retention_enforce(now=NOW)

    assert again == {"presence_intervals": 0, "connections": 0, "offers": 0, "tickets_anonymised": 0, "appeals": 0}
    assert list(Ticket.objects.order_by("pk").values()) == tickets
    assert list(Message.objects.order_by("pk").values()) == messages


def test_beat_runs_the_job_through_its_task(records):
    scheduled = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    assert "actions.tasks.retention_enforce_task" in scheduled

    done = retention_enforce_task()

    assert done["offers"] == 1 and done["tickets_anonymised"] == 1


def test_a_run_out_of_time_stops_and_the_next_run_continues(records):
    assert retention.retention_enforce(now=NOW, budget_seconds=0) == dict.fromkeys(
        ["presence_intervals", "connections", "offers", "tickets_anonymised", "appeals"], 0
    )
    assert retention.retention_enforce(now=NOW)["tickets_anonymised"] == 1


def test_the_notice_states_the_periods_the_job_enforces(agent):
    periods = {
        retention.PRESENCE_RETENTION,
        retention.OFFER_RETENTION,
        retention.TICKET_CONTENT_RETENTION,
        retention.PAY_RECORD_RETENTION,
        retention.DECISION_RETENTION,
    }
    # Every row of the notice's table is one of the job's constants, stored as the period it states.
    assert {period for _, period, _ in retention.RECORDED_DATA} == periods
    current, _ = algorithm_notice_current()
    stored = [row["period"] for row in current.content["recorded_data"]]
    assert stored == [period.as_dict() for _, period, _ in retention.RECORDED_DATA]

    page = Client()
    page.force_login(agent.user)
    body = page.get("/algorithm-notice/").content.decode()

    for words in ("90 days", "12 months", "24 months after the ticket closed", "10 years", "5 years"):
        assert words in body


@pytest.mark.parametrize(
    "now, period, cutoff",
    [
        ("2027-03-31T12:00:00", retention.OFFER_RETENTION, "2026-03-31T12:00:00"),
        ("2028-02-29T08:00:00", retention.OFFER_RETENTION, "2027-02-28T08:00:00"),
        ("2027-03-31T12:00:00", retention.TICKET_CONTENT_RETENTION, "2025-03-31T12:00:00"),
        ("2027-03-31T12:00:00", retention.PRESENCE_RETENTION, "2026-12-31T12:00:00"),
        ("2027-01-15T00:00:00", retention.DECISION_RETENTION, "2022-01-15T00:00:00"),
    ],
)
def test_periods_are_calendar_months_and_years(now, period, cutoff):
    def moment(text):
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    assert period.cutoff(moment(now)) == moment(cutoff)
