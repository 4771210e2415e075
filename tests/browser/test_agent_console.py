"""The agent's console end to end in headless Chromium: real uvicorn, Celery worker and beat,
PostgreSQL and Redis; tickets come in through the intake API like the bot sends them."""

import datetime as dt
import json
import re
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from agents.models import Agent, Shift
from tests.browser.conftest import escalate, expect, wait_until
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, UserFactory, integration_with_token
from tests.live import wait_for_http
from tests.tickets.receiver import Receiver
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

COUNTDOWN = re.compile(r"^\d+:\d\d$")


def seconds_shown(locator) -> int:
    minutes, seconds = locator.inner_text().split(":")
    return int(minutes) * 60 + int(seconds)


def go_online(console, agent, label="Online"):
    page = console.page
    switch = page.get_by_test_id("online-switch")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.get_by_test_id("presence-label")).to_have_text(label)
    wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="online", open_sockets__gt=0).exists())


def sent(console, frame_type) -> list[dict]:
    frames = [json.loads(f) for f in console.sent_frames]
    return [f for f in frames if f.get("type") == frame_type]


def received(console, frame_type) -> list[dict]:
    frames = [json.loads(f) for f in console.received_frames]
    return [f for f in frames if f.get("type") == frame_type]


def test_sign_in_go_online_accept_reply_resolve_and_see_the_pay(live_stack, open_console):
    set_policy(offer_timeout_seconds=60)
    receiver = Receiver().start()
    try:
        integration, token = integration_with_token(webhook_url=receiver.url)
        agent = AgentFactory(languages=["de", "en"], skills={"payments": 4, "refunds": 2}, display_name="Mia Berger")
        console = open_console("desktop")
        page = console.page
        console.goto("/login/")
        console.screenshot("login")
        console.sign_in(agent.user.username)
        expect(page.get_by_role("heading", name="Hello, Mia Berger")).to_be_visible()
        expect(page.get_by_test_id("online-switch")).to_have_text(re.compile("Go online"))
        console.screenshot("console-offline")

        go_online(console, agent)
        expect(page.get_by_text("You are online.")).to_be_visible()
        console.screenshot("console-online")

        ticket = escalate(live_stack.base_url, token)
        card = page.get_by_test_id("offer-card")
        expect(card).to_be_visible(timeout=10_000)
        countdown = card.get_by_test_id("offer-countdown")
        expect(countdown).to_have_text(COUNTDOWN)
        first = seconds_shown(countdown)
        assert 50 <= first <= 60
        expect(card).to_contain_text("Double charge on order 1234, customer upset")
        expect(card).to_contain_text("payments")
        expect(card).to_contain_text("Customer asked for a person")
        expect(card).to_contain_text("Priority 2")
        expect(card.get_by_test_id("offer-pay")).to_have_text(re.compile(r"\d"))
        expect(card.locator("[data-why] li").first).to_be_visible()
        console.wait_for(lambda: sent(console, "ack"), timeout=5)
        page.wait_for_timeout(1500)
        assert seconds_shown(countdown) < first
        console.screenshot("offer")

        # A double click sends one accept: the button is disabled by the first click.
        card.get_by_test_id("offer-accept").dblclick()
        work = page.get_by_test_id("work")
        expect(work).to_be_visible(timeout=10_000)
        expect(card).to_have_count(0)
        assert len(sent(console, "accept")) == 1
        conversation = work.get_by_test_id("conversation")
        expect(conversation).to_contain_text("I was charged twice for order 1234!")
        expect(conversation).to_contain_text("I am sorry. Let me get a colleague.")
        expect(work).to_contain_text("refund one of the two charges")
        expect(work).to_contain_text("tool:order-lookup")
        expect(work).to_contain_text("order id")
        assert Ticket.objects.get(pk=ticket["id"]).status == TicketStatus.ASSIGNED

        # Reply: the customer (through the bot's webhook receiver) gets it.
        work.get_by_test_id("reply-send").click()
        expect(work.locator("[data-error-for='text']")).to_have_text("This field is required.")
        work.get_by_test_id("reply-text").fill("Hallo Anna, ich erstatte die doppelte Abbuchung.")
        work.get_by_test_id("reply-text").press("Control+Enter")
        expect(conversation).to_contain_text("Hallo Anna, ich erstatte die doppelte Abbuchung.")
        expect(work.get_by_test_id("reply-text")).to_have_value("")
        hook = wait_until(
            lambda: next((r for r in receiver.accepted if r.headers.get("X-Dispatch-Event") == "ticket.message"), None),
            timeout=30,
        )
        assert hook.json["message"]["text"] == "Hallo Anna, ich erstatte die doppelte Abbuchung."
        assert hook.json["ticket"]["id"] == ticket["id"]

        # The customer answers through the bot: it shows up live, once.
        httpx.post(
            f"{live_stack.base_url}/api/v1/tickets/{ticket['id']}/messages/",
            json={"text": "Danke, das ging schnell!"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).raise_for_status()
        expect(conversation).to_contain_text("Danke, das ging schnell!")
        expect(conversation.locator("li", has_text="Hallo Anna")).to_have_count(1)
        console.screenshot("work")

        # Resolve: the outcome is required and the error shows next to it; the notes typed are kept.
        resolve = work.locator("[data-resolve-form]")
        resolve.locator("textarea[name=notes]").fill("Refunded the duplicate charge.")
        resolve.get_by_test_id("resolve-submit").click()
        expect(resolve.locator("[data-error-for='outcome']")).to_have_text("This field is required.")
        expect(resolve.locator("textarea[name=notes]")).to_have_value("Refunded the duplicate charge.")
        resolve.get_by_test_id("outcome-solved").check()
        resolve.locator("input[name=escalation_avoidable]").check()
        resolve.locator("textarea[name=comment]").fill("The refund tool could do this.")
        resolve.get_by_test_id("resolve-submit").click()
        expect(work).to_be_hidden(timeout=10_000)
        expect(page.locator("#toast")).to_contain_text("Ticket resolved")
        resolved = Ticket.objects.get(pk=ticket["id"])
        assert resolved.status == TicketStatus.RESOLVED
        assert resolved.outcome == "solved"
        assert resolved.bot_feedback == {"escalation_avoidable": True, "comment": "The refund tool could do this."}
        wait_until(
            lambda: "ticket.resolved" in {r.headers.get("X-Dispatch-Event") for r in receiver.accepted}, timeout=30
        )

        # The pay lines are written by the worker's pay task; the earnings page shows them, explained.
        console.goto("/agent/earnings/")

        def pay_lines_shown():
            if page.get_by_test_id("pay-line").count():
                return True
            page.wait_for_timeout(1000)
            page.reload()
            return False

        wait_until(pay_lines_shown, timeout=60, interval=0)
        line = page.get_by_test_id("pay-line").first
        expect(line).to_contain_text("EUR")
        expect(line).to_contain_text("Not paid out yet")
        expect(page.get_by_test_id("pay-period").first).to_contain_text("Total")
        console.screenshot("earnings")
        console.goto("/agent/")
        expect(page.get_by_test_id("earnings-today")).to_have_text(re.compile(r"[1-9]"))
        assert console.js_errors() == []
    finally:
        receiver.stop()


def test_profile_payout_details_are_checked_on_the_spot_and_preferences_stored(live_stack, open_console):
    agent = AgentFactory(languages=["de"], skills={"payments": 3, "fraud": 5}, display_name="Jonas Weber")
    console = open_console("desktop")
    page = console.page
    console.sign_in(agent.user.username)
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_test_id("display-name")).to_have_text("Jonas Weber")
    expect(page.locator("table.skills")).to_contain_text("fraud")
    expect(page.locator("table.skills")).to_contain_text("5/5")

    form = page.get_by_test_id("payout-form")
    expect(form).to_have_attribute("data-ready", "true")  # the field checks are attached
    form.get_by_label("Account holder").fill("Jonas Weber")
    iban = form.get_by_test_id("iban")
    iban.fill("DE89 3704 0044 0532 0130 01")  # one digit off: the checksum fails
    form.get_by_label("BIC").focus()
    expect(form.get_by_test_id("iban-error")).to_contain_text("checksum")
    form.get_by_label("BIC").fill("COBADEFFXXX")
    form.get_by_role("button", name="Save payout details").click()
    expect(form.get_by_test_id("iban-error")).to_contain_text("IBAN")
    expect(iban).to_have_value("DE89 3704 0044 0532 0130 01")
    expect(iban).to_have_attribute("aria-invalid", "true")
    console.screenshot("profile-errors")

    iban.fill("DE89 3704 0044 0532 0130 00")
    form.get_by_role("button", name="Save payout details").click()
    expect(form.get_by_test_id("payout-saved")).to_have_text("Saved.")
    expect(form.get_by_test_id("iban-error")).to_be_hidden()
    agent.refresh_from_db()
    assert (agent.payout_holder, agent.payout_iban, agent.payout_bic) == (
        "Jonas Weber",
        "DE89370400440532013000",
        "COBADEFFXXX",
    )

    notifications = page.get_by_test_id("notification-form")
    notifications.get_by_label("Play a sound").uncheck()
    notifications.get_by_role("button", name="Save notification preferences").click()
    expect(page.get_by_text("Your notification preferences are saved.")).to_be_visible()
    expect(page.get_by_test_id("notification-form").get_by_label("Play a sound")).not_to_be_checked()
    agent.refresh_from_db()
    assert agent.notification_preferences["sound"] is False
    assert agent.notification_preferences["browser_notification"] is True
    console.screenshot("profile")

    # Shifts: claim a place, and see until when it can be given back.
    start = timezone.now() + dt.timedelta(days=1)
    Shift.objects.create(
        starts_at=start,
        ends_at=start + dt.timedelta(hours=4),
        languages=["de"],
        skills=["payments"],
        places=3,
        hourly_guarantee_amount=Decimal("14.00"),
        note="Black Friday evening",
        published_by=UserFactory(role="supervisor"),
    )
    page.get_by_role("link", name="Shifts").click()
    expect(page.get_by_text("up to 2 hours before the start")).to_be_visible()
    page.get_by_test_id("shift-claim").click()
    expect(page.get_by_test_id("shift-booked")).to_be_visible()
    expect(page.get_by_test_id("shift-release")).to_be_visible()
    console.screenshot("shifts")
    assert console.js_errors() == []


def test_a_pending_offer_comes_back_after_the_connection_drops(live_stack, open_console):
    set_policy(offer_timeout_seconds=120)
    _, token = integration_with_token()
    agent = AgentFactory(languages=["de"], skills={"payments": 3})
    console = open_console("desktop")
    page = console.page
    console.sign_in(agent.user.username)
    go_online(console, agent)
    ticket = escalate(live_stack.base_url, token)
    card = page.get_by_test_id("offer-card")
    expect(card).to_be_visible(timeout=10_000)
    offer_id = card.get_attribute("data-offer-id")
    before = seconds_shown(card.get_by_test_id("offer-countdown"))

    # Cut the line for real: the ASGI server goes away (closing every socket), then comes back.
    web = live_stack.web[0]
    web.stop()
    banner = page.get_by_test_id("connection-banner")
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text(re.compile("Reconnect|Connection lost"))
    console.screenshot("reconnecting")
    frames_before = len(received(console, "offer"))
    web.start()
    wait_for_http(f"{live_stack.base_url}/healthz", web)

    # The reconnect gets a fresh state frame and the pending offer again, with its remaining time;
    # the card is the same card (keyed by offer_id), not a second one.
    expect(banner).to_contain_text("Connected again", timeout=40_000)
    console.wait_for(lambda: len(received(console, "offer")) > frames_before, timeout=10)
    resent = received(console, "offer")[-1]
    assert resent["offer_id"] == offer_id
    assert resent["remaining_seconds"] < before
    expect(page.get_by_test_id("offer-card")).to_have_count(1)
    page.wait_for_timeout(3500)  # past the resync sweep: an offer not resent would be gone by now
    expect(page.get_by_test_id("offer-card")).to_have_count(1)
    expect(card).to_have_attribute("data-offer-id", offer_id)
    assert seconds_shown(card.get_by_test_id("offer-countdown")) < before
    expect(banner).to_be_hidden(timeout=10_000)

    card.get_by_test_id("offer-accept").click()
    expect(page.get_by_test_id("work")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("tab")).to_have_count(1)
    assert Ticket.objects.get(pk=ticket["id"]).assigned_agent_id == agent.pk

    # Open tickets come back after a reconnect too, without a second tab.
    web.stop()
    expect(banner).to_be_visible(timeout=10_000)
    web.start()
    wait_for_http(f"{live_stack.base_url}/healthz", web)
    expect(banner).to_contain_text("Connected again", timeout=40_000)
    page.wait_for_timeout(1000)
    expect(page.get_by_role("tab")).to_have_count(1)
    expect(page.get_by_test_id("conversation")).to_contain_text("I was charged twice")
    assert console.js_errors() == []


def test_the_whole_shift_on_a_phone_in_german(live_stack, open_console):
    # She reads her earnings and profile (pages without the console's socket) for longer than the
    # default 30 s of grace while the wrap-up ends and the pay is written; she is still online after.
    set_policy(offer_timeout_seconds=60, wrap_up_seconds=5, presence_grace_seconds=300)
    receiver = Receiver().start()
    try:
        _, token = integration_with_token(webhook_url=receiver.url)
        agent = AgentFactory(languages=["de"], skills={"payments": 2}, display_name="Lena Schulz")
        console = open_console("phone", locale="de-DE")
        page = console.page
        console.goto("/login/")
        expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
        console.screenshot("login")
        console.sign_in(agent.user.username)
        expect(page.get_by_test_id("online-switch")).to_have_text(re.compile("Online gehen"))
        console.screenshot("console-offline")
        go_online(console, agent, label="Online")
        expect(page.get_by_text("Sie sind online.")).to_be_visible()

        ticket = escalate(
            live_stack.base_url,
            token,
            customer={
                "ref": "c-7",
                "display_name": "Friedrich-Wilhelm von Hohenberg",
                "tier": "vip",
                "vulnerable": True,
            },
            summary="Kunde wurde zweimal belastet und möchte sofort eine Erstattung für Bestellung 98765",
            reason="negative_sentiment",
            priority=3,
        )
        card = page.get_by_test_id("offer-card")
        expect(card).to_be_visible(timeout=10_000)
        expect(card.get_by_test_id("offer-countdown")).to_have_text(COUNTDOWN)
        expect(card).to_contain_text("Verärgerte Kundschaft")
        expect(card).to_contain_text("VIP")
        expect(card.get_by_test_id("offer-accept")).to_be_in_viewport()
        console.screenshot("offer")

        card.get_by_test_id("offer-accept").click()
        work = page.get_by_test_id("work")
        expect(work).to_be_visible(timeout=10_000)
        expect(work.get_by_test_id("conversation")).to_contain_text("I was charged twice for order 1234!")
        work.get_by_test_id("reply-text").fill("Guten Tag, ich kümmere mich sofort darum.")
        work.get_by_test_id("reply-send").click()
        expect(work.get_by_test_id("conversation")).to_contain_text("ich kümmere mich sofort darum")
        console.screenshot("work")

        work.get_by_text("An den Bot zurückgeben").click()
        hand_back = work.locator("[data-handback-form]")
        hand_back.locator("textarea").fill("Identität geprüft; der Bot kann die Adresse ändern.")
        hand_back.get_by_role("button", name="Zurückgeben").click()
        expect(work).to_be_hidden(timeout=10_000)
        expect(page.locator("#toast")).to_contain_text("an den Bot zurückgegeben")
        assert Ticket.objects.get(pk=ticket["id"]).status == TicketStatus.HANDED_BACK
        wait_until(
            lambda: (
                {"ticket.message", "ticket.handed_back"}
                <= {r.headers.get("X-Dispatch-Event") for r in receiver.accepted}
            ),
            timeout=30,
        )

        page.get_by_role("link", name="Verdienst").click()
        expect(page.get_by_role("heading", name="Verdienst", exact=True)).to_be_visible()

        def pay_lines_shown():
            if page.get_by_test_id("pay-line").count():
                return True
            page.wait_for_timeout(1000)
            page.reload()
            return False

        wait_until(pay_lines_shown, timeout=60, interval=0)
        expect(page.get_by_test_id("pay-line").first).to_contain_text("Noch nicht ausgezahlt")
        console.screenshot("earnings")

        page.get_by_role("link", name="Profil").click()
        form = page.get_by_test_id("payout-form")
        expect(form).to_have_attribute("data-ready", "true")
        form.get_by_label("IBAN").fill("DE00 1234")
        form.get_by_role("button", name="Auszahlungsdaten speichern").click()
        expect(form.locator("[data-error-for=holder]")).not_to_be_empty()
        expect(form.get_by_test_id("iban-error")).not_to_be_empty()
        expect(form.get_by_label("IBAN")).to_have_value("DE00 1234")
        console.screenshot("profile")

        # The language switch in the header wins over the browser's language.
        page.select_option("#lang-select", "en")
        expect(page.get_by_role("heading", name="Profile", exact=True)).to_be_visible()
        page.get_by_role("link", name="Console").click()
        expect(page.get_by_test_id("online-switch")).to_have_text(re.compile("Go offline"))
        assert console.js_errors() == []
    finally:
        receiver.stop()
