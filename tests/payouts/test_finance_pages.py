import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from payouts.models import PayLine, PayoutBatch, RateCard
from tests.factories import UserFactory
from tests.payouts.factories import line, payable_agent

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_finance_builds_reviews_approves_and_downloads_through_the_pages():
    creator, approver = UserFactory(role="finance"), UserFactory(role="finance")
    line(agent=payable_agent(display_name="Paid Person"), amount="5.00")
    from tests.factories import AgentFactory

    line(agent=AgentFactory(display_name="Held Person"), amount="3.00")
    today = timezone.now().date().isoformat()
    page = signed_in(creator)

    assert page.get("/finance/").status_code == 200
    response = page.post("/finance/batches/", {"period_start": today, "period_end": today, "currency": "EUR"})
    batch = PayoutBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/finance/batches/{batch.pk}/"
    detail = page.get(f"/finance/batches/{batch.pk}/").content.decode()
    assert "Held Person" in detail and "No payout details" in detail
    assert "another finance user must approve" in detail

    page.post(f"/finance/batches/{batch.pk}/", {"action": "approve"})
    batch.refresh_from_db()
    assert batch.status == "draft"

    signed_in(approver).post(f"/finance/batches/{batch.pk}/", {"action": "approve"})
    batch.refresh_from_db()
    assert batch.status == "approved"
    detail = page.get(f"/finance/batches/{batch.pk}/").content.decode()
    assert "export.csv" in detail
    assert page.get(f"/api/v1/payout-batches/{batch.pk}/export.csv").status_code == 200


def test_empty_period_shows_the_reason():
    page = signed_in(UserFactory(role="finance"))
    today = timezone.now().date().isoformat()
    response = page.post(
        "/finance/batches/", {"period_start": today, "period_end": today, "currency": "EUR"}, follow=True
    )
    assert "Nothing to pay" in response.content.decode()


def test_adjustment_page_requires_a_reason_and_writes_a_line():
    page = signed_in(UserFactory(role="finance"))
    agent = payable_agent()
    page.post("/finance/adjustments/", {"agent": agent.pk, "amount": "2.00", "currency": "EUR", "reason": ""})
    assert not PayLine.objects.exists()
    page.post("/finance/adjustments/", {"agent": agent.pk, "amount": "2.00", "currency": "EUR", "reason": "Missed"})
    assert PayLine.objects.get().reason == "Missed"


def test_rate_card_page_saves_a_new_version():
    page = signed_in(UserFactory(role="finance"))
    form = page.get("/finance/rate-cards/").context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "effective_from": (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "change_note": "More per minute",
            "rate_per_minute": "0.35",
        }
    )
    data.pop("base_by_reason", None)
    response = page.post("/finance/rate-cards/", data, follow=True)
    assert "saved" in response.content.decode(), response.content.decode()[:2000]
    assert RateCard.objects.count() == 2


def test_pages_are_for_finance_only(agent):
    assert signed_in(agent.user).get("/finance/batches/").status_code == 403
    assert Client().get("/finance/batches/").status_code == 302


def test_algorithm_notice_is_readable_by_agents_and_versioned(agent):
    import datetime as dt

    from payouts.models import AlgorithmNotice, AlgorithmNoticeSeen

    page = signed_in(agent.user)
    body = page.get("/algorithm-notice/").content.decode()
    assert "How offers are ranked" in body and "Fairness" in body and "rate card v" in body
    supervisor = signed_in(UserFactory(role="supervisor"))
    past = supervisor.post(
        "/algorithm-notice/", {"effective_from": "2000-01-01T00:00", "changes": "x"}, follow=True
    ).content.decode()
    assert "must start in the future" in past
    later = (timezone.now() + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    supervisor.post("/algorithm-notice/", {"effective_from": later, "changes": "Fairness weight raised"})
    assert AlgorithmNotice.objects.count() == 2
    body = page.get("/algorithm-notice/").content.decode()
    assert "A new version applies from" in body and "Fairness weight raised" in body
    assert AlgorithmNoticeSeen.objects.filter(agent=agent).count() == 2
    assert (
        signed_in(agent.user).post("/algorithm-notice/", {"effective_from": later, "changes": "y"}).status_code == 200
    )
    assert AlgorithmNotice.objects.count() == 2
