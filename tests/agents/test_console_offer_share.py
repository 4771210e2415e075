"""The console's fairness figure: offers per online hour over a stated recent window, from real offers
and real online time; in words, not a rate, while the sample is too small (issue 14)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from agents.models import PresenceInterval
from console import pages as console
from dispatch.models import Offer
from dispatch.policy import policy_current
from tests.factories import AgentFactory, TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_pool_median():
    key = getattr(console, "POOL_OFFER_RATE_CACHE_KEY", "-")
    cache.delete(key)
    yield
    cache.delete(key)


def _online(agent, *, start, end=None):
    PresenceInterval.objects.create(agent=agent, started_at=start, ended_at=end)


def _offers(agent, count: int, *, between):
    start, end = between
    step = (end - start) / max(count, 1)
    for index in range(count):
        at = start + step * index
        Offer.objects.create(
            ticket=TicketFactory(),
            agent=agent,
            status="declined",
            created_at=at,
            expires_at=at + timedelta(seconds=20),
            answered_at=at + timedelta(seconds=5),
            pay_estimate_amount="3.00",
            pay_estimate_currency="EUR",
            policy=policy_current(),
        )
    agent.offers_received += count
    agent.save(update_fields=["offers_received"])


def test_one_offer_after_a_minute_online_says_too_few_instead_of_sixty_an_hour(client):
    now = timezone.now()
    agent = AgentFactory()
    _online(agent, start=now - timedelta(minutes=1))
    type(agent).objects.filter(pk=agent.pk).update(presence="online", presence_changed_at=now - timedelta(minutes=1))
    _offers(agent, 1, between=(now - timedelta(seconds=30), now))

    share = console.agent_offer_share(agent=agent, now=now)

    assert share["rate"] is None and share["percent"] is None
    assert "Too few offers" in share["text"] and "1 offer" in share["text"]
    client.force_login(agent.user)
    page = client.get("/agent/").content.decode()
    figure = page.split("data-share-text>")[1].split("</p>")[0]
    assert "Too few offers" in figure
    assert "60" not in figure and "100 %" not in page.split("data-share-percent>")[1].split("</p>")[0]
    summary = client.get("/agent/summary/").json()
    assert summary["offer_share"]["rate"] is None
    assert "Too few offers" in summary["offer_share_text"]


def test_a_realistic_week_shows_the_rate_and_the_pool_median_computed_the_same_way():
    now = timezone.now()
    agent = AgentFactory()
    # 10 online hours in the window, 4 of them yesterday and 6 three days ago; 20 offers in that time.
    _online(agent, start=now - timedelta(days=1, hours=4), end=now - timedelta(days=1))
    _online(agent, start=now - timedelta(days=3, hours=6), end=now - timedelta(days=3))
    _offers(agent, 20, between=(now - timedelta(days=3, hours=6), now - timedelta(days=1)))
    # Online and offered before the window: neither counts.
    _online(agent, start=now - timedelta(days=9), end=now - timedelta(days=8, hours=20))
    _offers(agent, 30, between=(now - timedelta(days=9), now - timedelta(days=8, hours=21)))
    # The pool: 1, 2 and 3 offers per online hour; an agent online 30 minutes is left out of the median.
    for rate in (1, 2, 3):
        other = AgentFactory()
        _online(other, start=now - timedelta(days=2, hours=5), end=now - timedelta(days=2))
        _offers(other, 5 * rate, between=(now - timedelta(days=2, hours=5), now - timedelta(days=2)))
    brief = AgentFactory()
    _online(brief, start=now - timedelta(minutes=30), end=now)
    _offers(brief, 9, between=(now - timedelta(minutes=30), now))

    share = console.agent_offer_share(agent=agent, now=now)

    assert share["offers"] == 20 and share["online_seconds"] == 10 * 3600
    assert share["rate"] == 2.0
    # Median of 1, 2 (this agent), 2 and 3.
    assert share["pool_median"] == 2.0 and share["percent"] == 100
    assert "last 7 days" in share["text"] and "2.0 offers per online hour" in share["text"]


def test_the_pool_median_is_left_out_when_too_few_agents_were_online_long_enough():
    now = timezone.now()
    agent = AgentFactory()
    _online(agent, start=now - timedelta(hours=3), end=now - timedelta(hours=1))
    _offers(agent, 6, between=(now - timedelta(hours=3), now - timedelta(hours=1)))

    share = console.agent_offer_share(agent=agent, now=now)

    assert share["rate"] == 3.0
    assert share["pool_median"] is None and share["percent"] is None
    assert "3.0 offers per online hour" in share["text"] and "compare" in share["text"]
