"""Races: exactly one holder per ticket, and capacity never exceeded, on PostgreSQL and on SQLite."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from agents.models import Agent
from dispatch import services
from dispatch.models import Offer, OfferStatus
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory, online
from tickets.models import TicketStatus

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(functions) -> list:
    """Run each function in its own thread, released together; returns results or exceptions."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(i, function):
        try:
            barrier.wait()
            results[i] = function()
        except Exception as exc:  # noqa: BLE001 - the race's loser raises, and we count it
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_agents_accepting_one_fanned_out_ticket_leave_one_holder():
    set_policy(offer_fanout=20)
    agents = [online(AgentFactory(languages=["en"])) for _ in range(20)]
    ticket = TicketFactory(language="en")
    offers = services.ticket_dispatch(ticket_id=ticket.pk)
    assert len(offers) == 20
    results = run_at_once([lambda o=o: services.offer_accept(offer_id=o.pk, agent=o.agent) for o in offers])
    winners = [r for r in results if isinstance(r, Offer)]
    losers = [r for r in results if isinstance(r, services.OfferUnavailable)]
    assert (len(winners), len(losers)) == (1, 19)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ASSIGNED
    assert ticket.assigned_agent == winners[0].agent
    assert Offer.objects.filter(ticket=ticket, status=OfferStatus.ACCEPTED).count() == 1
    assert sum(Agent.objects.filter(pk__in=[a.pk for a in agents]).values_list("active_tickets", flat=True)) == 1


def test_one_agent_accepting_two_offers_at_once_never_exceeds_max_concurrent():
    agent = online(AgentFactory(languages=["en"], max_concurrent=1))
    first = TicketFactory(language="en")
    [offer_one] = services.ticket_dispatch(ticket_id=first.pk)
    # A second pending offer to the same agent, as an offer left from before a capacity change would be.
    second = TicketFactory(language="en", status=TicketStatus.OFFERED)
    offer_two = Offer.objects.create(
        ticket=second,
        agent=agent,
        created_at=offer_one.created_at,
        expires_at=offer_one.expires_at,
        pay_estimate_amount=offer_one.pay_estimate_amount,
        pay_estimate_currency=offer_one.pay_estimate_currency,
        policy=offer_one.policy,
    )
    results = run_at_once(
        [
            lambda: services.offer_accept(offer_id=offer_one.pk, agent=agent),
            lambda: services.offer_accept(offer_id=offer_two.pk, agent=agent),
        ]
    )
    assert sum(isinstance(r, Offer) for r in results) == 1
    refusal = next(r for r in results if not isinstance(r, Offer))
    assert refusal.code == "at_capacity"
    agent.refresh_from_db()
    assert agent.active_tickets == 1


def test_accept_racing_the_expiry_answers_the_offer_once():
    from datetime import timedelta

    from django.utils import timezone

    agent = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    [offer] = services.ticket_dispatch(ticket_id=ticket.pk)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() + timedelta(milliseconds=50))
    import time

    time.sleep(0.05)
    results = run_at_once(
        [
            lambda: services.offer_accept(offer_id=offer.pk, agent=agent),
            lambda: services.offer_expire(offer_id=offer.pk),
        ]
    )
    offer.refresh_from_db()
    ticket.refresh_from_db()
    if offer.status == OfferStatus.ACCEPTED:
        assert ticket.status == TicketStatus.ASSIGNED and results[1] is False
    else:
        assert offer.status == OfferStatus.EXPIRED
        assert ticket.status == TicketStatus.QUEUED
        assert isinstance(results[0], services.OfferUnavailable)


SQLITE_RACE = r"""
import os, sys, threading
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import close_old_connections
from dispatch import services
from dispatch.models import Offer, OfferStatus
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory, online

set_policy(offer_fanout=10)
agents = [online(AgentFactory(languages=["en"])) for _ in range(10)]
ticket = TicketFactory(language="en")
offers = services.ticket_dispatch(ticket_id=ticket.pk)
barrier = threading.Barrier(len(offers))
outcomes = []
def accept(offer):
    barrier.wait()
    try:
        services.offer_accept(offer_id=offer.pk, agent=offer.agent)
        outcomes.append("won")
    except services.OfferUnavailable:
        outcomes.append("refused")
    finally:
        close_old_connections()
threads = [threading.Thread(target=accept, args=(o,)) for o in offers]
[t.start() for t in threads]; [t.join() for t in threads]
ticket.refresh_from_db()
print(len(offers), sorted(outcomes).count("won"), sorted(outcomes).count("refused"),
      Offer.objects.filter(ticket=ticket, status=OfferStatus.ACCEPTED).count(), ticket.status)
"""


@pytest.mark.django_db(transaction=False)
def test_exactly_one_holder_on_sqlite_too(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "FAST_PASSWORD_HASHER": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_RACE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-5:] == ["10", "1", "9", "1", "assigned"], result.stdout
