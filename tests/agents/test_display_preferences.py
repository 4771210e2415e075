"""The agent's interface language and time zone: set in the profile (API and page), used for their
pages and answers; empty follows the browser."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agents.models import Agent, Shift
from tests.factories import AgentFactory, UserFactory
from tests.payouts.factories import PayLineFactory

pytestmark = pytest.mark.django_db


def test_an_agent_sets_language_and_time_zone_and_me_shows_them(agent_client, agent):
    response = agent_client.patch("/api/v1/me/", {"ui_language": "sv", "time_zone": "Europe/Stockholm"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["ui_language"] == "sv" and response.json()["time_zone"] == "Europe/Stockholm"
    agent.refresh_from_db()
    assert (agent.ui_language, agent.time_zone) == ("sv", "Europe/Stockholm")
    me = agent_client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="en-US")
    assert me.json()["time_zone"] == "Europe/Stockholm"
    assert me["Content-Language"] == "sv"  # the profile's language, not the browser's

    back = agent_client.patch("/api/v1/me/", {"ui_language": "", "time_zone": ""}, format="json")
    assert back.status_code == 200
    agent.refresh_from_db()
    assert (agent.ui_language, agent.time_zone) == ("", "")
    assert agent_client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="de-DE")["Content-Language"] == "de"


def test_one_setting_alone_leaves_the_other(agent_client, agent):
    Agent.objects.filter(pk=agent.pk).update(ui_language="de", time_zone="Europe/Berlin")
    assert agent_client.patch("/api/v1/me/", {"time_zone": "Asia/Tokyo"}, format="json").status_code == 200
    agent.refresh_from_db()
    assert (agent.ui_language, agent.time_zone) == ("de", "Asia/Tokyo")


@pytest.mark.parametrize(
    "body, bad_field",
    [
        ({"ui_language": "sv", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"ui_language": "sv", "time_zone": "../../etc/passwd"}, "time_zone"),
        ({"ui_language": "fr", "time_zone": "Europe/Paris"}, "ui_language"),
        ({"ui_language": "svenska-lang"}, "ui_language"),
        ({"time_zone": "Europe/" + "X" * 70}, "time_zone"),
        ({"ui_language": None}, "ui_language"),
        ({"theme": "dark"}, "theme"),
    ],
)
def test_a_bad_language_or_zone_is_refused_naming_the_field_and_nothing_changes(agent_client, agent, body, bad_field):
    Agent.objects.filter(pk=agent.pk).update(ui_language="de", time_zone="Europe/Berlin")
    response = agent_client.patch("/api/v1/me/", body, format="json")
    assert response.status_code == 400
    assert bad_field in response.json(), response.json()
    agent.refresh_from_db()
    assert (agent.ui_language, agent.time_zone) == ("de", "Europe/Berlin")


def test_api_refusals_are_written_in_the_agents_language(agent_client, agent):
    Agent.objects.filter(pk=agent.pk).update(ui_language="sv")
    response = agent_client.patch("/api/v1/me/", {"ui_language": "x" * 9}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "tecken" in response.json()["ui_language"][0]  # DRF's own Swedish "no more than 8 characters"


def test_only_an_agent_has_display_preferences(supervisor_client):
    assert supervisor_client.patch("/api/v1/me/", {"ui_language": "sv"}, format="json").status_code == 403


@pytest.fixture
def agent_page_client(client):
    agent = AgentFactory(display_name="Mia Berger")
    client.force_login(agent.user)
    client.agent = agent
    return client


def test_console_pages_use_the_profiles_language_and_time_zone_over_the_browsers(agent_page_client):
    agent = agent_page_client.agent
    PayLineFactory(
        agent=agent,
        amount=Decimal("2.50"),
        explanation="Base pay",
        created_at=dt.datetime(2026, 11, 20, 12, 5, tzinfo=dt.UTC),
    )
    agent_page_client.cookies["tz"] = "UTC"  # what the browser says its zone is
    browser = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
    page = agent_page_client.get("/agent/earnings/", **browser).content.decode()
    assert 'lang="en"' in page and ">12:05</time>" in page

    Agent.objects.filter(pk=agent.pk).update(ui_language="sv", time_zone="Europe/Stockholm")
    page = agent_page_client.get("/agent/earnings/", **browser).content.decode()
    assert 'lang="sv"' in page
    assert ">13:05</time>" in page  # 12:05 UTC is 13:05 in Stockholm in November
    assert 'data-time-zone="Europe/Stockholm"' in page  # for the console's script


def test_without_a_profile_setting_pages_follow_the_browser(agent_page_client):
    agent = agent_page_client.agent
    PayLineFactory(agent=agent, amount=Decimal("2.50"), created_at=dt.datetime(2026, 11, 20, 12, 5, tzinfo=dt.UTC))
    agent_page_client.cookies["tz"] = "Asia%2FTokyo"  # as the page's script writes it (encodeURIComponent)
    browser = {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9"}
    page = agent_page_client.get("/agent/earnings/", **browser).content.decode()
    assert 'lang="de"' in page
    assert ">21:05</time>" in page  # the browser's zone, from its cookie
    assert 'data-time-zone=""' in page


def test_the_profile_page_sets_them_and_refuses_an_unknown_zone(agent_page_client):
    agent = agent_page_client.agent
    response = agent_page_client.post(
        "/agent/profile/", {"form": "display", "ui_language": "de", "time_zone": "Atlantis/Capital"}
    )
    assert response.status_code == 200
    assert "Atlantis/Capital" in response.content.decode()  # named in the error next to the field
    agent.refresh_from_db()
    assert (agent.ui_language, agent.time_zone) == ("", "")

    response = agent_page_client.post(
        "/agent/profile/", {"form": "display", "ui_language": "de", "time_zone": "Europe/Vienna"}, follow=True
    )
    agent.refresh_from_db()
    assert (agent.ui_language, agent.time_zone) == ("de", "Europe/Vienna")
    page = response.content.decode()
    assert 'lang="de"' in page and '<option value="Europe/Vienna" selected>' in page


def test_the_profile_form_and_shift_times_speak_the_agents_language_and_zone(agent_page_client):
    agent = agent_page_client.agent
    Agent.objects.filter(pk=agent.pk).update(ui_language="sv", time_zone="Europe/Stockholm")
    profile = agent_page_client.get("/agent/profile/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Språk och tidszon" in profile and "Webbläsarens tidszon" in profile
    assert '<option value="Europe/Stockholm" selected>' in profile

    start = (timezone.now() + dt.timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    Shift.objects.create(
        starts_at=start, ends_at=start + dt.timedelta(hours=4), places=1, published_by=UserFactory(role="supervisor")
    )
    shifts = agent_page_client.get("/agent/shifts/").content.decode()
    local = timezone.localtime(start, ZoneInfo("Europe/Stockholm"))
    assert f"{local:%H:%M}–{local + dt.timedelta(hours=4):%H:%M}" in shifts
    assert 'data-testid="shift-zone">Europe/Stockholm<' in shifts and "till " in shifts


def test_a_late_evening_line_in_utc_is_under_the_next_day_in_stockholm(agent_page_client):
    agent = agent_page_client.agent
    Agent.objects.filter(pk=agent.pk).update(ui_language="en", time_zone="Europe/Stockholm")
    PayLineFactory(agent=agent, amount=Decimal("1.00"), created_at=dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC))
    page = agent_page_client.get("/agent/earnings/").content.decode()
    assert "Saturday, Nov. 21, 2026" in page and ">00:30</time>" in page
    assert "Friday" not in page


def test_the_headers_language_select_moves_the_profiles_language_when_one_is_set(agent_page_client):
    agent = agent_page_client.agent
    Agent.objects.filter(pk=agent.pk).update(ui_language="sv")
    page = agent_page_client.get("/agent/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/agent/language/"' in page
    response = agent_page_client.post("/agent/language/", {"language": "de", "next": "/agent/"}, follow=True)
    agent.refresh_from_db()
    assert agent.ui_language == "de"
    assert 'lang="de"' in response.content.decode()


def test_without_a_profile_language_the_headers_select_is_the_browsers_choice(agent_page_client):
    agent = agent_page_client.agent
    response = agent_page_client.post("/agent/language/", {"language": "sv", "next": "/agent/"}, follow=True)
    agent.refresh_from_db()
    assert agent.ui_language == ""  # still following the browser, which now says Swedish
    assert 'lang="sv"' in response.content.decode()
