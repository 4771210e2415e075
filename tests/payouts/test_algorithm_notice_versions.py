"""A change of the dispatch policy or of a rate card publishes a new version of the algorithm notice in the
same transaction, listing what changed; agents see the list on the notice page and, until they open it, a
mark in their console."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from actions.rules import policy_change as policy_update
from actions.rules import rate_card_change as rate_card_create
from dispatch.policy import policy_current
from payouts.models import AlgorithmNotice

pytestmark = pytest.mark.django_db

WEIGHTS = {"skill_fit": 1.0, "quality": 1.0, "fairness": 2.0, "shift": 4.0}
STEPS = [
    {"after_seconds": 60, "action": "relax_skill_level", "value": 1},
    {"after_seconds": 120, "action": "widen_fanout", "value": 3},
    {"after_seconds": 180, "action": "alert_supervisors", "value": None},
]


def page_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def notice_page(agent) -> str:
    return page_of(agent.user).get("/algorithm-notice/").content.decode()


def test_a_policy_change_publishes_a_version_that_says_what_changed(agent, supervisor_client):
    policy_current()
    before = notice_page(agent)  # the agent read the version in force
    assert "Offer timeout" not in before

    response = supervisor_client.patch(
        "/api/v1/dispatch-policy/",
        {"offer_timeout_seconds": 30, "ranking_weights": WEIGHTS, "escalation_steps": STEPS, "change_reason": "Peak"},
        format="json",
    )

    assert response.status_code == 200, response.content
    latest = AlgorithmNotice.objects.order_by("-version").first()
    assert latest.effective_from <= timezone.now() and latest.changes == "Peak"
    page = notice_page(agent)
    assert "Offer timeout 20 s → 30 s" in page
    assert "Ranking weight of fairness 1.5 → 2.0" in page
    assert "after 90 s the ticket is offered to 3 agents at once" in page  # the steps before...
    assert "after 120 s the ticket is offered to 3 agents at once" in page  # ...and after
    assert f"Dispatch policy v1 → v{policy_current().version}" in page


def test_a_rate_card_publishes_a_version_from_when_it_applies(agent, finance_client):
    notice_page(agent)
    starts = timezone.now() + dt.timedelta(days=7)

    response = finance_client.post(
        "/api/v1/rate-cards/",
        {"currency": "EUR", "effective_from": starts.isoformat(), "base_amount": "3.50", "change_note": "Raise"},
        format="json",
    )

    assert response.status_code == 201, response.content
    upcoming = AlgorithmNotice.objects.order_by("-version").first()
    assert upcoming.effective_from == starts
    page = notice_page(agent)
    assert "A new version applies from" in page and "Base amount 2.00 EUR → 3.50 EUR" in page
    _, in_force = page.split("How the platform decides: offers, records, pay")
    assert "3.50" not in in_force  # the version in force still shows the card in force


def test_a_version_that_starts_later_also_carries_a_change_made_meanwhile(supervisor, finance_user):
    policy_current()
    starts = timezone.now() + dt.timedelta(days=7)
    rate_card_create(actor=finance_user, currency="EUR", effective_from=starts, base_amount=Decimal("3.50"))

    policy_update(actor=supervisor, changes={"offer_timeout_seconds": 30})

    in_force_later = AlgorithmNotice.objects.filter(effective_from__lte=starts).order_by("-version").first()
    assert in_force_later.content["ranking"]["offer_timeout_seconds"] == 30
    assert in_force_later.content["rate_card"]["base_amount"] == "3.50"
    in_force_now = AlgorithmNotice.objects.filter(effective_from__lte=timezone.now()).order_by("-version").first()
    assert in_force_now.content["ranking"]["offer_timeout_seconds"] == 30
    assert in_force_now.content["rate_card"]["base_amount"] == "2.00"


def test_a_refused_change_publishes_nothing(supervisor_client, finance_client):
    policy_current()
    notice_page_versions = AlgorithmNotice.objects.count()

    refused_policy = supervisor_client.patch(
        "/api/v1/dispatch-policy/", {"surge_min": "1.90", "surge_max": "1.50"}, format="json"
    )
    start = timezone.now() + dt.timedelta(days=1)
    rate_card_create(actor=None, currency="SEK", effective_from=start, effective_to=start + dt.timedelta(days=2))
    published = AlgorithmNotice.objects.count()
    overlapping = finance_client.post(
        "/api/v1/rate-cards/",
        {"currency": "SEK", "effective_from": (start + dt.timedelta(hours=1)).isoformat()},
        format="json",
    )

    assert refused_policy.status_code == 400 and overlapping.status_code == 400
    assert notice_page_versions <= published - 2  # the card that was written: its start and its end
    assert AlgorithmNotice.objects.count() == published


def test_the_console_marks_a_version_the_agent_has_not_seen(agent, supervisor):
    console = page_of(agent.user)
    notice_page(agent)
    assert 'data-testid="notice-new-version"' not in console.get("/agent/").content.decode()

    policy_update(actor=supervisor, changes={"offer_fanout": 2})

    marked = console.get("/agent/earnings/").content.decode()
    assert 'data-testid="notice-new-version"' in marked and "new version: see what changed" in marked
    assert "Agents offered a ticket at once 1 → 2" in notice_page(agent)
    assert 'data-testid="notice-new-version"' not in console.get("/agent/").content.decode()


def test_supervisors_read_the_changes_too(supervisor):
    policy_update(actor=supervisor, changes={"max_missed_offers_in_row": 5})

    page = page_of(supervisor).get("/algorithm-notice/").content.decode()

    assert "Missed offers in a row before you are set away 3 → 5" in page
    assert "After 5 offers in a row that reached your screen and expired, you are set away" in page
