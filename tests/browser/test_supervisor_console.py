"""The supervisor's console in Chromium against the live stack: the decision record of a ticket as a table
whose counts add up, told in the third person, and the board's live list of agents."""

import re
import time

import pytest

from tests.browser.conftest import escalate, expect
from tests.factories import PASSWORD, AgentFactory, UserFactory, integration_with_token
from tests.wsclient import AgentSocket

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(console, username: str, lands_on: str = "/supervisor/"):
    page = console.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(f".*{lands_on}$"))
    return page


def _first_offer(sockets: list[AgentSocket], timeout: float = 30) -> tuple[AgentSocket, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for socket in sockets:
            frame = socket.next_frame(0.2)
            if frame and frame.get("type") == "offer":
                return socket, frame
    raise AssertionError("no agent was offered the ticket")


def test_the_decision_record_is_a_table_whose_counts_add_up_told_in_the_third_person(live_stack, open_console):
    supervisor = UserFactory(role="supervisor")
    _, token = integration_with_token()
    greta = AgentFactory(languages=["de"], skills={"payments": 4}, display_name="Greta G.")
    lars = AgentFactory(languages=["de"], skills={"payments": 2}, display_name="Lars L.")
    sven = AgentFactory(languages=["sv"], skills={"payments": 4}, display_name="Sven S.")
    sockets = [AgentSocket(live_stack.ws_url(), agent) for agent in (greta, lars, sven)]
    try:
        ticket = escalate(live_stack.base_url, token, language="de", skills=["payments"])
        winner_socket, offer = _first_offer(sockets)
        winner_socket.send(type="ack", offer_id=offer["offer_id"])
        winner_socket.send(type="accept", offer_id=offer["offer_id"])
        winner_socket.expect("assigned")
    finally:
        for socket in sockets:
            socket.close()
    winner = winner_socket.agent.display_name
    runner_up = ({greta.display_name, lars.display_name} - {winner}).pop()

    console = open_console("desktop")
    page = _sign_in(console, supervisor.username)
    page.goto(f"{live_stack.base_url}/supervisor/tickets/{ticket['id']}/")
    record = page.locator("[data-testid=decision-record]").first
    expect(record).to_contain_text("policy version 1")
    # The pool: 3 online, 1 excluded for the language, 2 eligible; the rows add up.
    expect(record.locator("[data-testid=record-online]")).to_have_text("3")
    expect(record.locator("tr[data-exclusion=wrong_language] td")).to_have_text("1")
    expect(record.locator("[data-testid=record-eligible]")).to_have_text("2")
    exclusions = [int(t) for t in record.locator("tr[data-exclusion] td").all_inner_texts()]
    assert 3 - sum(exclusions) == 2
    # The winner's score by component with the weights; the points add up to the score.
    score = record.locator("[data-testid=record-score]")
    expect(score.locator("tr[data-component]")).to_have_count(4)
    expect(score).to_contain_text("Skill fit")
    points = [float(t) for t in score.locator("tr[data-component] td:nth-child(4)").all_inner_texts()]
    total = float(score.locator("[data-testid=record-score-total]").inner_text())
    assert abs(sum(points) - total) < 0.002
    expect(record.locator("[data-testid=record-runners-up]")).to_contain_text(runner_up)
    # The same reasons the agent read, about the agent: never "You".
    why = page.locator("li[data-kind=offered] ul.why").first
    expect(why).to_contain_text(f"{winner} speaks the customer's language (German).")
    assert "You " not in why.inner_text()
    # Human labels, not codes.
    details = page.locator(".sv-kv").last
    expect(details).to_contain_text("Customer asked for a person")
    assert "customer_request" not in page.locator("main").inner_text()
    console.screenshot("supervisor-decision-record")


def test_the_board_lists_agents_live_and_says_why_a_ticket_waits(live_stack, open_console):
    supervisor = UserFactory(role="supervisor")
    _, token = integration_with_token()
    mia = AgentFactory(languages=["de"], skills={"payments": 3}, display_name="Mia M.")
    AgentFactory(languages=["sv"], skills={"returns": 2}, display_name="Sven S.")

    console = open_console("desktop")
    page = _sign_in(console, supervisor.username)
    expect(page.locator("[data-testid=board-connection]")).to_have_attribute("data-state", "live")
    agents = page.locator("[data-testid=board-agent-list]")
    mia_row = agents.locator(f"tr[data-agent='{mia.pk}']")
    expect(mia_row.locator("[data-testid=agent-state]")).to_have_text("Offline")
    expect(agents.locator("tbody tr")).to_have_count(2)
    # Filtered by language, then by skill, in the page.
    page.select_option("#ag-language", "sv")
    expect(agents.locator("tbody tr[data-agent]")).to_have_count(1)
    expect(agents).to_contain_text("Sven S.")
    page.select_option("#ag-language", "")
    page.select_option("#ag-skill", "payments")
    expect(agents.locator("tbody tr[data-agent]")).to_have_count(1)
    expect(agents).to_contain_text("Mia M.")
    page.select_option("#ag-skill", "")

    socket = AgentSocket(live_stack.ws_url(), mia)
    try:
        # Mia goes online: her row changes by itself, without a reload.
        expect(mia_row.locator("[data-testid=agent-state]")).to_have_text("Free")
        expect(mia_row).to_contain_text("0 of 1")
        # A Swedish ticket about payments: nobody online can take it, and the board says why.
        ticket = escalate(live_stack.base_url, token, language="sv", skills=["payments"])
        waiting = page.locator(f"[data-testid=board-waiting-list] tr[data-ticket='{ticket['id']}']")
        expect(waiting.locator("[data-testid=why-waiting]")).to_contain_text(
            "Of 1 online, nobody can take it: 1 do not speak the customer's language"
        )
        expect(waiting).to_contain_text("Swedish")
        console.screenshot("supervisor-board-agents")
        waiting.locator("a").click()
        page.wait_for_url(re.compile(f".*/supervisor/tickets/{ticket['id']}/$"))
    finally:
        socket.close()
