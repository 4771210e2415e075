import datetime as dt

import pytest
from django.utils import timezone

from payouts.models import PayLine, RateCard
from payouts.services import earnings_floor_close_period, rate_card_in_force, ticket_pay_compute
from tests.conftest import client_with_token
from tests.factories import AgentFactory
from tests.payouts.factories import RateCardFactory, finished_ticket, line

pytestmark = pytest.mark.django_db


def test_agent_sees_own_lines_only(agent, agent_client):
    mine = line(agent=agent, amount="3.00")
    line(agent=AgentFactory(), amount="4.00")
    body = agent_client.get("/api/v1/earnings/").json()
    assert [row["id"] for row in body] == [str(mine.pk)]
    assert set(body[0]) == {"id", "agent", "ticket", "kind", "amount", "currency", "explanation", "created_at"}
    assert body[0]["amount"] == "3.00"
    other = AgentFactory()
    assert agent_client.get(f"/api/v1/earnings/?agent={other.pk}").status_code == 403


def test_finance_sees_all_with_filters(finance_client):
    anna, ben = AgentFactory(), AgentFactory()
    line(agent=anna, amount="1.00")
    old = line(agent=anna, amount="2.00", created_at=timezone.now() - dt.timedelta(days=10))
    line(agent=ben, amount="3.00")
    assert len(finance_client.get("/api/v1/earnings/").json()) == 3
    assert len(finance_client.get(f"/api/v1/earnings/?agent={anna.pk}").json()) == 2
    day = old.created_at.date().isoformat()
    filtered = finance_client.get(f"/api/v1/earnings/?agent={anna.pk}&from={day}&to={day}").json()
    assert [row["id"] for row in filtered] == [str(old.pk)]
    assert finance_client.get("/api/v1/earnings/?from=notadate").status_code == 400


def test_adjustment_needs_a_reason_and_is_a_new_line(finance_client, agent):
    refused = finance_client.post(
        "/api/v1/pay-adjustments/", {"agent": str(agent.pk), "amount": "-1.50", "reason": " "}, format="json"
    )
    assert refused.status_code == 400
    assert "reason" in refused.json()
    created = finance_client.post(
        "/api/v1/pay-adjustments/",
        {"agent": str(agent.pk), "amount": "-1.50", "reason": "Double-paid ticket"},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["kind"] == "adjustment" and created.json()["amount"] == "-1.50"
    assert "Double-paid ticket" in PayLine.objects.get().explanation


def test_rate_card_versions_negative_and_overlap_refused(finance_client):
    start = timezone.now() + dt.timedelta(days=1)
    negative = finance_client.post(
        "/api/v1/rate-cards/", {"effective_from": start.isoformat(), "rate_per_minute": "-0.10"}, format="json"
    )
    assert negative.status_code == 400 and "rate_per_minute" in negative.json()
    negative_map = finance_client.post(
        "/api/v1/rate-cards/",
        {"effective_from": start.isoformat(), "base_by_reason": {"policy": "-1"}},
        format="json",
    )
    assert negative_map.status_code == 400

    first = finance_client.post(
        "/api/v1/rate-cards/", {"effective_from": start.isoformat(), "rate_per_minute": "0.40"}, format="json"
    )
    assert first.status_code == 201, first.json()
    # The default card (created on first use) was open-ended and is now closed where v2 starts.
    assert RateCard.objects.count() == 2
    assert rate_card_in_force().rate_per_minute != rate_card_in_force(at=start).rate_per_minute
    assert str(rate_card_in_force(at=start + dt.timedelta(hours=1)).rate_per_minute) == "0.4000"

    bounded = finance_client.post(
        "/api/v1/rate-cards/",
        {
            "effective_from": (start + dt.timedelta(days=2)).isoformat(),
            "effective_to": (start + dt.timedelta(days=3)).isoformat(),
        },
        format="json",
    )
    assert bounded.status_code == 400
    assert bounded.json()["code"] == "rate_card_overlap"
    assert finance_client.get("/api/v1/rate-cards/").status_code == 200


def test_agents_can_read_the_rate_card_in_force(agent_client):
    body = agent_client.get("/api/v1/rate-cards/current/").json()
    assert body["currency"] == "EUR" and body["floor_k"] == "1.200"


def test_earnings_floor_tops_up_once_and_ignores_bonuses():
    RateCardFactory(rate_per_minute="0.10", hourly_reference="12.82")
    agent = AgentFactory()
    monday = timezone.now().date() - dt.timedelta(days=timezone.now().weekday() + 7)
    ended = dt.datetime.combine(monday, dt.time(12), tzinfo=dt.UTC)
    ticket = finished_ticket(agent=agent, minutes=60, ended=ended, csat_score=5)
    ticket_pay_compute(ticket_id=ticket.pk)
    # Earned 2.00 + 60 x 0.10 = 8.00 (the 0.50 quality bonus does not count);
    # floor = 1.2 x 12.82 x 1 h = 15.38 -> top-up 7.38.
    assert earnings_floor_close_period(period_start=monday) >= 1
    topup = PayLine.objects.get(kind="earnings_floor_topup")
    assert topup.amount.to_eng_string() == "7.38"
    assert topup.agent_id == agent.pk and topup.period_start == monday
    assert "earned 8.00 EUR" in topup.explanation
    assert earnings_floor_close_period(period_start=monday) == 0
    assert PayLine.objects.filter(kind="earnings_floor_topup").count() == 1


def test_earnings_above_the_floor_get_no_topup():
    RateCardFactory()
    agent = AgentFactory()
    monday = timezone.now().date() - dt.timedelta(days=timezone.now().weekday() + 7)
    ticket = finished_ticket(agent=agent, minutes=60, ended=dt.datetime.combine(monday, dt.time(12), tzinfo=dt.UTC))
    ticket_pay_compute(ticket_id=ticket.pk)  # 2.00 + 18.00 = 20.00 > 15.38
    earnings_floor_close_period(period_start=monday)
    assert not PayLine.objects.filter(kind="earnings_floor_topup").exists()


def test_finance_only_endpoints_refuse_agents(agent):
    client = client_with_token(agent.user)
    assert client.get("/api/v1/payout-batches/").status_code == 403
    assert client.post("/api/v1/rate-cards/", {}, format="json").status_code == 403


def test_earnings_query_count_does_not_grow_with_lines(agent, agent_client, django_assert_max_num_queries):
    for _ in range(30):
        line(agent=agent, amount="1.00")
    with django_assert_max_num_queries(6):
        assert len(agent_client.get("/api/v1/earnings/").json()) == 30
