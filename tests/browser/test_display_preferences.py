"""The agent's language and time zone from their profile, in real Chromium: a browser set to en-US and
UTC shows a Swedish agent the console in Swedish and times in Stockholm time; with the profile settings
emptied, the console follows the browser again."""

import datetime as dt
from decimal import Decimal

import pytest

from agents.models import Agent
from tests.browser.conftest import expect
from tests.factories import AgentFactory
from tests.payouts.factories import PayLineFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

# 12:05 UTC on a November day: 13:05 in Stockholm (CET, UTC+1).
PAID_AT = dt.datetime(2026, 11, 20, 12, 5, tzinfo=dt.UTC)
FORMAT_IN_PAGE = "async (iso) => (await import('/static/console/api.js')).formatTime(iso)"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_profiles_language_and_zone_win_over_the_browsers_until_emptied(open_console, size):
    agent = AgentFactory(display_name="Sara Lind", languages=["sv"], ui_language="sv", time_zone="Europe/Stockholm")
    PayLineFactory(agent=agent, amount=Decimal("3.00"), explanation="Base pay", created_at=PAID_AT)
    tab = open_console(size, locale="en-US", timezone_id="UTC")
    tab.sign_in(agent.user.username)
    page = tab.page
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.locator("nav.topnav")).to_contain_text("Intäkter")  # "Earnings"
    tab.wait_for(lambda: any('"type": "state"' in frame for frame in tab.received_frames))
    # The console's script formats an instant in the profile's zone, not the browser's UTC.
    assert page.evaluate(FORMAT_IN_PAGE, PAID_AT.isoformat()) == "13:05"

    tab.goto("/agent/earnings/")
    expect(page.locator("h1")).to_have_text("Intäkter")
    expect(page.locator("[data-testid=pay-period] time").first).to_have_text("13:05")
    tab.screenshot("display-preferences-sv-stockholm")

    # Back to "the browser's" for both, on the profile page (labelled in Swedish until then).
    tab.goto("/agent/profile/")
    form = page.get_by_test_id("display-form")
    expect(form.locator("#id_ui_language")).to_have_value("sv")
    expect(form.locator("#id_time_zone")).to_have_value("Europe/Stockholm")
    expect(page.locator("#display-heading")).to_have_text("Språk och tidszon")
    form.scroll_into_view_if_needed()
    tab.screenshot("display-preferences-profile-sv")
    form.locator("#id_ui_language").select_option("")
    form.locator("#id_time_zone").select_option("")
    form.locator("button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".messages")).to_contain_text("Your language and time zone are saved.")
    agent.refresh_from_db()
    assert (agent.ui_language, agent.time_zone) == ("", "")

    tab.goto("/agent/earnings/")
    expect(page.locator("h1")).to_have_text("Earnings")
    expect(page.locator("[data-testid=pay-period] time").first).to_have_text("12:05")  # the browser's UTC
    assert page.evaluate(FORMAT_IN_PAGE, PAID_AT.isoformat()) == "12:05 PM"  # English, in the browser's UTC
    tab.screenshot("display-preferences-browser-default")
    assert tab.js_errors() == []


def test_a_german_browser_in_tokyo_is_followed_when_the_profile_is_empty(open_console):
    agent = AgentFactory(languages=["de"])
    assert Agent.objects.get(pk=agent.pk).ui_language == ""
    PayLineFactory(agent=agent, amount=Decimal("3.00"), explanation="Base pay", created_at=PAID_AT)
    tab = open_console(locale="de-DE", timezone_id="Asia/Tokyo")
    tab.sign_in(agent.user.username)
    tab.goto("/agent/earnings/")
    page = tab.page
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("[data-testid=pay-period] time").first).to_have_text("21:05")
    assert page.evaluate(FORMAT_IN_PAGE, PAID_AT.isoformat()) == "21:05"
