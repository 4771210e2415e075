"""The lock-out as a person at the sign-in page sees it: in Chromium, against the live server."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import browser, open_console  # noqa: F401 - fixtures
from tests.factories import PASSWORD, AgentFactory
from tests.security.counters import fresh_rate_counters  # noqa: F401 - autouse fixture

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_after_five_wrong_passwords_the_page_says_when_to_try_again_and_refuses_the_right_one(open_console):  # noqa: F811
    agent = AgentFactory()
    console = open_console()
    page = console.goto("/login/")

    def submit(password: str):
        page.fill("#id_username", agent.user.username)
        page.fill("#id_password", password)
        page.locator("form button[type=submit]").click()
        page.wait_for_load_state()

    for attempt in range(4):
        submit(f"guess-{attempt}")
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    submit("guess-4")
    expect(page.get_by_test_id("login-refusal")).to_contain_text("Too many failed sign-ins for this account")

    submit(PASSWORD)

    refusal = page.get_by_test_id("login-refusal")
    expect(refusal).to_contain_text(re.compile(r"Try again after \d\d:\d\d UTC \(in 1[45] min\)"))
    assert page.url.endswith("/login/")  # still on the sign-in page, not signed in
    expect(page.locator("#id_username")).to_have_value(agent.user.username)
    console.screenshot("login-locked")
    assert console.js_errors() == []
