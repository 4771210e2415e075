"""The console's server-rendered pages with Django's test client (the browser tests cover the live parts)."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from payouts.models import PayLineKind, PayoutBatch, PayoutItem, PayoutItemLine
from tests.factories import AgentFactory, UserFactory
from tests.payouts.factories import PayLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_page_client(client):
    agent = AgentFactory(languages=["de", "sv"], skills={"payments": 4}, display_name="Mia Berger")
    client.force_login(agent.user)
    client.agent = agent
    return client


def test_the_console_shows_the_switch_and_todays_numbers(agent_page_client):
    agent = agent_page_client.agent
    PayLineFactory(agent=agent, kind=PayLineKind.BASE, amount=Decimal("2.50"), explanation="Base pay")
    PayLineFactory(agent=agent, amount=Decimal("9.99"), created_at=timezone.now() - dt.timedelta(days=2))
    page = agent_page_client.get("/agent/").content.decode()
    assert "Hello, Mia Berger" in page
    assert 'role="switch"' in page and "Go online" in page
    assert "2.50 EUR" in page
    assert 'id="console-config"' in page
    assert 'href="/algorithm-notice/"' in page  # how offers are ranked and pay is computed, one click away
    summary = agent_page_client.get("/agent/summary/").json()
    assert summary["earnings_today"] == [{"currency": "EUR", "amount": "2.50"}]
    assert summary["surge"]
    assert set(summary["offer_share"]) == {"rate", "pool_median", "percent"}


def test_the_console_speaks_german_when_the_browser_does(agent_page_client):
    page = agent_page_client.get("/agent/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    assert 'lang="de"' in page
    assert "Online gehen" in page
    config = json.loads(page.split('id="console-config" type="application/json">')[1].split("</script>")[0])
    assert config["strings"]["withdrawn_taken"] == "Eine andere Person hat dieses Angebot übernommen."


def test_earnings_lists_every_line_with_its_explanation_totals_and_payout_status(
    agent_page_client, django_assert_max_num_queries
):
    agent = agent_page_client.agent
    now = timezone.now()
    paid = PayLineFactory(
        agent=agent,
        kind=PayLineKind.BASE,
        amount=Decimal("3.00"),
        explanation="Base pay for a ticket",
        created_at=now - dt.timedelta(days=8),
    )
    PayLineFactory(agent=agent, kind=PayLineKind.SURGE, amount=Decimal("0.60"), explanation="Surge x1.20 on 3.00")
    PayLineFactory(agent=agent, amount=Decimal("-1.00"), explanation="Correction", reason="double counted")
    PayLineFactory(amount=Decimal("50.00"), explanation="Somebody else's line")
    finance = UserFactory(role="finance")
    day = paid.created_at.date()
    batch = PayoutBatch.objects.create(
        period_start=day, period_end=day, currency="EUR", status="paid", created_by=finance, message_id="B-1"
    )
    item = PayoutItem.objects.create(
        batch=batch, agent=agent, position=1, status="payable", amount=Decimal("3.00"), currency="EUR", reference="R1"
    )
    PayoutItemLine.objects.create(line=paid, item=item)

    with django_assert_max_num_queries(12):
        response = agent_page_client.get("/agent/earnings/")
    page = response.content.decode()
    assert "Base pay for a ticket" in page and "Surge x1.20 on 3.00" in page and "Correction" in page
    assert "Somebody else" not in page
    assert page.count('data-testid="pay-line"') == 3
    assert page.count('data-testid="pay-period"') == 2
    assert "Paid: " in page and "Not paid out yet: " in page
    assert "-0.40 EUR" in page  # this week's total: 0.60 - 1.00


def test_notification_preferences_are_stored_and_unknown_keys_kept(agent_page_client):
    agent = agent_page_client.agent
    agent.notification_preferences = {"digest": "weekly"}
    agent.save()
    response = agent_page_client.post("/agent/profile/", {"browser_notification": "on"}, follow=True)
    assert "Your notification preferences are saved." in response.content.decode()
    agent.refresh_from_db()
    assert agent.notification_preferences == {
        "digest": "weekly",
        "sound": False,
        "browser_notification": True,
        "vibrate": False,
    }


def test_profile_shows_languages_skills_and_the_own_payout_details(agent_page_client):
    agent = agent_page_client.agent
    agent.payout_iban = "DE89370400440532013000"
    agent.save()
    page = agent_page_client.get("/agent/profile/").content.decode()
    assert "German" in page and "Swedish" in page
    assert "payments" in page and "4/5" in page
    assert 'value="DE89370400440532013000"' in page


@pytest.mark.parametrize(
    "path", ["/agent/", "/agent/profile/", "/agent/earnings/", "/agent/summary/", "/agent/shifts/"]
)
def test_agent_pages_are_for_agents_only(client, path):
    assert client.get(path).status_code == 302  # to the sign-in page
    client.force_login(UserFactory(role="supervisor"))
    assert client.get(path).status_code == 403


def test_shifts_show_the_rules_and_what_the_agent_may_do(agent_page_client):
    from agents.models import Shift

    supervisor = UserFactory(role="supervisor")
    start = timezone.now() + dt.timedelta(days=1)
    Shift.objects.create(
        starts_at=start,
        ends_at=start + dt.timedelta(hours=4),
        languages=["de"],
        skills=["payments"],
        places=2,
        hourly_guarantee_amount=Decimal("14.00"),
        published_by=supervisor,
    )
    Shift.objects.create(
        starts_at=start, ends_at=start + dt.timedelta(hours=2), languages=["fr"], places=1, published_by=supervisor
    )
    page = agent_page_client.get("/agent/shifts/").content.decode()
    assert "up to 2 hours before the start" in page
    assert page.count('data-testid="shift"') == 2
    assert page.count('data-testid="shift-claim"') == 1
    assert "The shift needs one of these languages: fr." in page
    assert "14.00 EUR" in page
