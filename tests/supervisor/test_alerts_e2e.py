"""Acknowledging an alert on the live board, in Chromium against the real stack: the alert moves to the
acknowledged ones with who and when, on this board and, without a reload, on another supervisor's."""

import pytest
from playwright.sync_api import expect

from dispatch.models import SupervisorAlert
from tests.factories import TicketFactory, UserFactory
from tests.supervisor.conftest import new_page, screenshot, sign_in

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_acknowledging_an_alert_moves_it_on_every_supervisors_board(live_stack, chromium):
    first = UserFactory(role="supervisor")
    second = UserFactory(role="supervisor")
    ticket = TicketFactory(external_id="chat-ack-1")
    alert = SupervisorAlert.objects.create(
        kind="ticket_waiting", ticket=ticket, message="Ticket chat-ack-1 has waited 3 minutes."
    )
    other = SupervisorAlert.objects.create(kind="agent_gone", message="Greta has been disconnected for 2 minutes.")

    def scenario(browser):
        boards = []
        for supervisor in (first, second):
            page = new_page(browser, live_stack.base_url)
            sign_in(page, supervisor.username, "/supervisor/")
            expect(page.locator("[data-testid=board-connection]")).to_have_attribute("data-state", "live")
            boards.append(page)
        mine, theirs = boards
        item = f"[data-testid=board-alerts] li[data-alert='{alert.pk}']"
        for page in boards:
            expect(page.locator(item)).to_have_attribute("data-state", "open")
            expect(page.locator("[data-testid=board-alerts] li[data-state=open]")).to_have_count(2)

        mine.locator(item).get_by_role("button", name="Acknowledge").click()

        # On this board at once, from the answer; on the other one from the push, without a reload.
        for page in (mine, theirs):
            expect(page.locator(item)).to_have_attribute("data-state", "acknowledged")
            expect(page.locator(item)).to_contain_text(f"Acknowledged by {first.username}")
            expect(page.locator(item).get_by_role("button", name="Acknowledge")).to_have_count(0)
            expect(page.locator("[data-testid=board-alerts] li[data-state=open]")).to_have_count(1)
            expect(page.locator(f"[data-testid=board-alerts] li[data-alert='{other.pk}']")).to_have_attribute(
                "data-state", "open"
            )
        screenshot(mine, "board-alert-acknowledged")

        saved = SupervisorAlert.objects.get(pk=alert.pk)
        assert saved.acknowledged_by_id == first.pk and saved.acknowledged_at is not None
        # The database is the truth: a reload shows the same.
        theirs.reload()
        expect(theirs.locator(item)).to_have_attribute("data-state", "acknowledged")
        assert not mine.errors and not theirs.errors, (mine.errors, theirs.errors)

    chromium.run(scenario)
