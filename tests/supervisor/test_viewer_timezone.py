"""Times on the supervisor's and finance's pages are in the viewer's time zone, as their browser tells it
(the `tz` cookie); in UTC until it has."""

import datetime as dt

import pytest
from django.test import Client

from tests.factories import TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_ticket_list_shows_times_in_the_viewers_time_zone(supervisor):
    TicketFactory(created_at=dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC))
    client = Client()
    client.force_login(supervisor)
    utc = client.get("/supervisor/tickets/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "29.11.2026 10:00" in utc
    client.cookies["tz"] = "Europe/Stockholm"
    stockholm = client.get("/supervisor/tickets/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "29.11.2026 11:00" in stockholm and "29.11.2026 10:00" not in stockholm
    client.cookies["tz"] = "Mars/Olympus_Mons"  # no such zone: UTC
    assert "29.11.2026 10:00" in client.get("/supervisor/tickets/", HTTP_ACCEPT_LANGUAGE="de").content.decode()


def test_the_supervisor_and_finance_pages_ask_the_browser_for_its_time_zone(supervisor):
    for user, path in ((supervisor, "/supervisor/"), (UserFactory(role="finance"), "/finance/")):
        client = Client()
        client.force_login(user)
        assert 'document.cookie = "tz="' in client.get(path).content.decode()
