"""Data rights in the browser: an agent downloads their data from the profile page; a supervisor
pseudonymises a departed agent from the agent's page (real Chromium against the live stack)."""

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from agents.models import Agent
from tests.browser.conftest import expect
from tests.factories import PASSWORD, AgentFactory, UserFactory
from tests.payouts.factories import PayLineFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def open_profile(tab, username: str):
    tab.sign_in(username)
    # Let the home page's socket finish its handshake first: a socket dropped half-open is only noticed
    # by the server at its next ping, after the fixture has stopped waiting for it.
    tab.wait_for(lambda: any('"type": "state"' in frame for frame in tab.received_frames))
    return tab.goto("/agent/profile/")


def test_an_agent_downloads_their_data_from_the_profile_page(open_console, tmp_path):
    agent = AgentFactory(display_name="Mia Berger", languages=["de"])
    PayLineFactory(agent=agent, amount=Decimal("4.20"), explanation="Base pay for chat-1")
    tab = open_console()
    page = open_profile(tab, agent.user.username)

    with page.expect_download() as download_info:
        page.get_by_test_id("download-my-data").click()
    download = download_info.value

    today = timezone.localdate().isoformat()
    assert download.suggested_filename == f"my-data-{agent.user.username}-{today}.json"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    export = json.loads(Path(saved).read_text())
    assert export["profile"]["display_name"] == "Mia Berger"
    assert [(line["amount"], line["explanation"]) for line in export["pay_lines"]] == [("4.20", "Base pay for chat-1")]
    assert tab.js_errors() == []


def test_the_download_link_speaks_german(open_console):
    agent = AgentFactory(languages=["de"])
    page = open_profile(open_console(locale="de-DE"), agent.user.username)
    expect(page.get_by_test_id("download-my-data")).to_have_text("Meine Daten herunterladen")
    expect(page.locator("#data-heading")).to_have_text("Ihre Daten")


def sign_in_as_supervisor(tab, username: str):
    page = tab.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/supervisor/$"))
    return page


def test_a_supervisor_pseudonymises_a_departed_agent_after_finance_has_paid(open_console):
    agent = AgentFactory(display_name="Mia Berger")
    owed = PayLineFactory(agent=agent, amount=Decimal("3.10"), explanation="Unpaid guarantee")
    supervisor = UserFactory(role="supervisor")
    tab = open_console()
    page = sign_in_as_supervisor(tab, supervisor.username)
    page = tab.goto(f"/supervisor/pool/{agent.pk}/")
    section = page.get_by_test_id("pseudonymise")
    expect(section).to_contain_text("Irreversible.")
    # Owed money not yet in an approved batch: the page says why it would be refused, and it is.
    expect(page.get_by_test_id("pseudonymise-blockers")).to_contain_text("3.10 EUR")
    page.get_by_test_id("pseudonymise-reason").fill("Left on 30 November")
    page.get_by_test_id("pseudonymise-confirm").check()
    section.get_by_role("button", name="Pseudonymise").click()
    expect(page.get_by_test_id("flash")).to_contain_text("finance must pay it first")
    assert Agent.objects.get(pk=agent.pk).pseudonymised_at is None

    # Finance pays (a correction nets the line to zero here), then it goes through, once confirmed.
    PayLineFactory(agent=agent, amount=-owed.amount, explanation="Paid by hand", reason="settled")
    page.reload()
    expect(page.get_by_test_id("pseudonymise-blockers")).to_have_count(0)
    page.get_by_test_id("pseudonymise-reason").fill("Left on 30 November")
    page.get_by_test_id("pseudonymise").get_by_role("button", name="Pseudonymise").click()
    expect(page.get_by_test_id("flash")).to_contain_text("cannot be undone")
    assert Agent.objects.get(pk=agent.pk).pseudonymised_at is None

    page.get_by_test_id("pseudonymise-reason").fill("Left on 30 November")
    page.get_by_test_id("pseudonymise-confirm").check()
    page.get_by_test_id("pseudonymise").get_by_role("button", name="Pseudonymise").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Mia Berger is pseudonymised")
    short_id = agent.pk.hex[:8]
    expect(page.locator("h1")).to_contain_text(f"Former agent {short_id}")
    expect(page.get_by_test_id("pseudonymise")).to_contain_text("Pseudonymised on")
    agent.refresh_from_db()
    assert agent.user.username == f"departed-{short_id}" and not agent.user.is_active
    assert tab.js_errors() == []
