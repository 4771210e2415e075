"""The "Bot and people" page in Chromium, with data from the load simulator (`manage.py simulate`, which
reports contained conversations besides its escalations) against the live stack."""

import io
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connection

from tests.browser.conftest import expect
from tests.factories import PASSWORD, UserFactory
from tickets.models import CoachingGroupSent, Conversation, Ticket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _simulate(base_url: str, out) -> None:
    try:
        call_command(
            "simulate",
            agents=3,
            rate=3,
            duration=4,
            url=base_url,
            think="0.05-0.1",
            handle="0.1-0.3",
            decline_share=0,
            ignore_share=0,
            languages="en:2,de:1",
            skills="",
            containment=0.6,
            avoidable_share=1.0,
            report_every=1,
            drain=20,
            stdout=out,
        )
    finally:
        connection.close()


def test_the_hybrid_quality_page_shows_the_simulated_bot_next_to_the_people(open_console, live_stack):
    out = io.StringIO()
    # In a thread of its own: the simulator runs an asyncio loop, and Playwright's holds this thread.
    with ThreadPoolExecutor(1) as runner:
        runner.submit(_simulate, live_stack.base_url, out).result()
    summary = out.getvalue()
    assert "conversations reported" in summary, summary
    contained = Conversation.objects.filter(outcome="contained").count()
    conversations = Conversation.objects.count()
    escalations = Ticket.objects.count()
    assert contained > 0 and escalations > 0, summary
    assert re.search(rf"contained {contained}\b", summary), summary

    supervisor = UserFactory(role="supervisor")
    tab = open_console()
    page = tab.goto("/login/")
    page.fill("#id_username", supervisor.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/supervisor/$"))
    page.get_by_role("link", name="Bot and people").click()
    page.wait_for_url(re.compile(r".*/supervisor/hybrid/$"))

    total = page.get_by_test_id("hybrid-total")
    cells = total.locator("td")
    expect(cells.nth(0)).to_have_text(str(conversations))
    expect(cells.nth(1)).to_have_text(str(contained))
    expect(cells.nth(5)).to_have_text(str(escalations))
    # Every rate reads as a percentage or, for fewer than 10 cases, as its count.
    containment = cells.nth(2).inner_text()
    assert re.fullmatch(r"\d+%|n=\d+", containment), containment
    expect(page.get_by_test_id("hybrid-definitions")).to_contain_text("Of the conversations with a known customer")
    expect(page.get_by_test_id("hybrid-days").locator("tbody tr")).not_to_have_count(0)

    # Every resolved escalation was marked avoidable with a comment: the coaching view groups them.
    group = page.get_by_test_id("coaching-group").first
    expect(group).to_contain_text("marked avoidable")
    expect(group).to_contain_text("I would like to talk to a person.")
    tab.screenshot("hybrid-quality")
    group.get_by_test_id("coaching-mark-sent").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Marked as sent to the bot team")
    expect(page.get_by_test_id("coaching-sent").first).to_contain_text(f"Sent to the bot team by {supervisor.username}")
    assert CoachingGroupSent.objects.count() == 1
    assert tab.js_errors() == []
