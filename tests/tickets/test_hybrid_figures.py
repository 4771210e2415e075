"""The hybrid figures on a worked example with known answers (tickets.hybrid)."""

import datetime as dt

import pytest

from tests.factories import AgentFactory, TicketFactory, integration_with_token
from tickets.hybrid import hybrid_report
from tickets.models import Conversation, TicketStatus

pytestmark = pytest.mark.django_db

DAY1 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
PERIOD = {"period_from": dt.datetime(2026, 11, 1, tzinfo=dt.UTC), "period_to": dt.datetime(2026, 11, 8, tzinfo=dt.UTC)}


@pytest.fixture
def worked_example(db):
    """Six German and English conversations in the week, one the week after, five escalations.

    conversation  lang topic   outcome    csat customer  started
    c1            de   refund  contained  5    anna      day 1
    c2            de   refund  contained  3    bert      day 1
    c3            de   refund  escalated  -    anna      day 2   (its ticket t1: human CSAT 4, avoidable)
    c4            en   login   contained  -    cara      day 2
    c5            en   login   escalated  -    (ticket: dora) day 2  (t2 handed back, not avoidable;
                                                                      t3 its re-escalation: CSAT 2)
    c6            en   login   abandoned  -    -         day 2
    c7            en   login   contained  4    cara      day 2 + 8 days (outside; too late to repeat c4)
    t4            de   refund  (no conversation reported) human CSAT 5, day 1
    t5            sv   -       created before the period: not counted
    """
    integration = integration_with_token()[0]
    agent = AgentFactory()

    def conversation(external_id, language, topic, outcome, csat, customer_ref, started_at):
        Conversation.objects.create(
            integration=integration,
            external_id=external_id,
            language=language,
            topic=topic,
            outcome=outcome,
            csat=csat,
            customer_ref=customer_ref,
            started_at=started_at,
            ended_at=started_at + dt.timedelta(minutes=5),
        )

    def ticket(conversation_id, language, *, created_at, customer_ref, status=TicketStatus.RESOLVED, csat=None, **kw):
        return TicketFactory(
            integration=integration,
            conversation_id=conversation_id,
            language=language,
            customer_ref=customer_ref,
            status=status,
            assigned_agent=agent,
            created_at=created_at,
            queued_at=created_at,
            assigned_at=created_at,
            resolved_at=created_at,
            closed_at=created_at,
            csat_score=csat,
            **kw,
        )

    conversation("c1", "de", "refund", "contained", 5, "anna", DAY1)
    conversation("c2", "de", "refund", "contained", 3, "bert", DAY1)
    conversation("c3", "de", "refund", "escalated", None, "anna", DAY2)
    conversation("c4", "en", "login", "contained", None, "cara", DAY2)
    conversation("c5", "en", "login", "escalated", None, "", DAY2)
    conversation("c6", "en", "login", "abandoned", None, "", DAY2)
    conversation("c7", "en", "login", "contained", 4, "cara", DAY2 + dt.timedelta(days=8))
    ticket("c3", "de", created_at=DAY2, customer_ref="anna", csat=4, bot_feedback={"escalation_avoidable": True})
    ticket(
        "c5",
        "en",
        created_at=DAY2,
        customer_ref="dora",
        status=TicketStatus.HANDED_BACK,
        bot_feedback={"escalation_avoidable": False},
    )
    ticket("c5", "en", created_at=DAY2 + dt.timedelta(hours=1), customer_ref="dora", csat=2)
    ticket("", "de", created_at=DAY1, customer_ref="erik", csat=5, topic="refund")
    ticket("", "sv", created_at=DAY1 - dt.timedelta(days=3), customer_ref="finn", csat=1)


def test_the_worked_example_in_total(worked_example):
    total = hybrid_report(**PERIOD)["total"]
    assert total["conversations"] == 6
    assert total["contained"] == 3
    assert total["containment_rate"] == 0.5  # c1, c2, c4 of six
    assert total["bot_csat"] == 4.0  # c1 5 and c2 3; c4 unrated; c7 is outside the period
    assert total["human_csat"] == 3.67  # t1 4, t3 2, t4 5
    assert total["escalations"] == 4  # t1, t2, t3, t4
    assert total["handed_back"] == 1
    assert total["avoidable_share"] == 0.5  # t1 yes, t2 no
    # Known customers: c1 anna, c2 bert, c3 anna, c4 cara, c5 dora (from its ticket); anna came back
    # within 7 days of c1 (c3); cara's c7 is 8 days after c4.
    assert total["repeat_contact_rate_7d"] == 0.2
    assert total["samples"] == {
        "containment_rate": 6,
        "bot_csat": 2,
        "human_csat": 3,
        "avoidable_share": 2,
        "repeat_contact_rate_7d": 5,
    }


def test_the_worked_example_per_language_topic_and_day(worked_example):
    report = hybrid_report(**PERIOD)
    de = next(row for row in report["by_language"] if row["language"] == "de")
    en = next(row for row in report["by_language"] if row["language"] == "en")
    assert (de["conversations"], de["contained"], de["containment_rate"]) == (3, 2, 0.6667)
    assert (de["bot_csat"], de["human_csat"], de["escalations"]) == (4.0, 4.5, 2)
    assert (en["conversations"], en["contained"], en["bot_csat"], en["human_csat"]) == (3, 1, None, 2.0)
    assert en["handed_back"] == 1
    assert [row["language"] for row in report["by_language"]] == ["de", "en"]  # sv's ticket is before the period

    refund = next(row for row in report["by_topic"] if row["topic"] == "refund")
    login = next(row for row in report["by_topic"] if row["topic"] == "login")
    assert (refund["conversations"], refund["escalations"], refund["human_csat"]) == (3, 2, 4.5)
    assert (login["conversations"], login["escalations"], login["avoidable_share"]) == (3, 2, 0.0)

    days = {row["day"]: row for row in report["by_day"]}
    assert list(days) == ["2026-11-02", "2026-11-03"]
    assert (days["2026-11-02"]["conversations"], days["2026-11-02"]["containment_rate"]) == (2, 1.0)
    assert (days["2026-11-03"]["conversations"], days["2026-11-03"]["escalations"]) == (4, 3)


def test_days_are_counted_in_the_readers_time_zone(worked_example):
    """t3, escalated at 10:00 UTC on day 2, is already the next day at UTC+14."""
    report = hybrid_report(**PERIOD, time_zone="Pacific/Kiritimati")
    days = {row["day"]: row for row in report["by_day"]}
    assert list(days) == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert (days["2026-11-04"]["escalations"], days["2026-11-04"]["conversations"]) == (1, 0)
    report = hybrid_report(**PERIOD, time_zone="America/Los_Angeles")  # 01:00 and 02:00, the same days
    assert [row["day"] for row in report["by_day"]] == ["2026-11-02", "2026-11-03"]


def test_the_api_gives_supervisors_the_same_report(worked_example, supervisor_client, agent_client):
    response = supervisor_client.get("/api/v1/quality/hybrid/", {"from": "2026-11-01", "to": "2026-11-07"})
    assert response.status_code == 200, response.json()
    assert response.json()["total"]["containment_rate"] == 0.5
    assert agent_client.get("/api/v1/quality/hybrid/").status_code == 403
    bad = supervisor_client.get("/api/v1/quality/hybrid/", {"from": "yesterday", "tz": "Mars/Olympus"})
    assert bad.status_code == 400
    assert {"from", "tz"} <= set(bad.json())
