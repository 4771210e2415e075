"""The agent's console in headless Chromium through a deploy: two web processes behind a load balancer
(tests.ops.tcprelay), both restarted in turn while an offer waits on the agent's screen. The page is
told to reconnect (frame, close code 4012), comes back through the balancer to the other process at
once, and the offer is still there to accept."""

import json
import re
import sys
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, ConsolePage, browser  # noqa: F401 - the fixture
from tests.browser.test_agent_console import go_online
from tests.factories import AgentFactory, integration_with_token, set_policy
from tests.live import ManagedProcess, free_port, wait_for_http
from tickets.models import Ticket

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def received(console, frame_type) -> list[dict]:
    return [f for f in (json.loads(raw) for raw in console.received_frames) if f.get("type") == frame_type]


def test_the_console_follows_a_rolling_restart_and_keeps_its_offer(own_stack, browser):  # noqa: F811
    set_policy(offer_timeout_seconds=120)
    stack = own_stack()
    stack.add_web()
    stack.add_web()
    stack.start_worker()
    stack.start_dispatcher()
    port = free_port()
    balancer = ManagedProcess(
        "balancer",
        [sys.executable, "-m", "tests.ops.tcprelay", f"127.0.0.1:{port}"]
        + [f"127.0.0.1:{web.env['PORT']}" for web in stack.web],
        stack.env,
        stack.log_dir / "balancer.log",
    )
    balancer.start()
    base_url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base_url}/healthz", balancer)

    _, token = integration_with_token()
    agent = AgentFactory(languages=["de"])
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    try:
        console = ConsolePage(context.new_page(), base_url, "desktop")
        page = console.page
        console.sign_in(agent.user.username)
        go_online(console, agent)
        body = {
            "external_id": "console-deploy-1",
            "customer": {"ref": "c-1", "display_name": "Anna"},
            "language": "de",
            "skills": [],
            "reason": "customer_request",
            "summary": "Double charge",
            "transcript": [{"role": "customer", "text": "Charged twice", "at": "2026-11-21T10:00:00+01:00"}],
        }
        response = httpx.post(f"{base_url}/api/v1/tickets/", json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text
        card = page.get_by_test_id("offer-card")
        expect(card).to_be_visible(timeout=15_000)
        offer_id = card.get_attribute("data-offer-id")
        banner = page.get_by_test_id("connection-banner")
        # Every text the banner shows from now on, however briefly.
        page.evaluate(
            """() => {
              window.bannerTexts = [];
              const banner = document.querySelector('[data-testid="connection-banner"]');
              const text = banner.querySelector("[data-banner-text]");
              new MutationObserver(() => !banner.hidden && window.bannerTexts.push(text.textContent.trim()))
                .observe(banner, { childList: true, subtree: true, characterData: true, attributes: true });
            }"""
        )

        back_after = []
        for web in stack.web:
            sockets_before = len(console.sockets)
            reconnects_before = len(received(console, "reconnect"))
            stopping = time.monotonic()
            web.stop()  # SIGTERM: this process tells its sockets to reconnect, then exits
            page.wait_for_timeout(1000)  # lets Playwright deliver the frames of the last second
            if len(received(console, "reconnect")) > reconnects_before:  # else it was on the other process
                # Told to go: back through the balancer, on the process still running, within the jitter.
                console.wait_for(lambda sb=sockets_before: len(console.sockets) > sb, timeout=5)
                expect(banner).to_contain_text("Connected again", timeout=5_000)
                back_after.append(time.monotonic() - stopping)
            web.start()
            wait_for_http(f"{stack.web_url(stack.web.index(web))}/healthz", web)

        # The balancer picks the first process for the page's socket: if that is the first one stopped, the
        # page moves to the second and is told again when that one's turn comes (twice); else once.
        assert 1 <= len(back_after) <= 2, back_after
        # A deploy reads as one, not as a failure: "Reconnecting…", never "Connection lost".
        texts = page.evaluate("() => window.bannerTexts")
        assert any("Reconnecting" in text for text in texts), texts
        assert not any("Connection lost" in text for text in texts), texts
        assert max(back_after) < 5
        frame = received(console, "reconnect")[-1]
        assert frame == {"type": "reconnect", "reason": "server_restart"}
        expect(page.get_by_test_id("offer-card")).to_have_count(1)
        expect(card).to_have_attribute("data-offer-id", offer_id)
        expect(banner).to_be_hidden(timeout=10_000)
        card.get_by_test_id("offer-accept").click()
        expect(page.get_by_test_id("work")).to_be_visible(timeout=10_000)
        assert Ticket.objects.get(pk=response.json()["id"]).assigned_agent_id == agent.pk
        assert not re.search("TypeError|ReferenceError", " ".join(console.js_errors())), console.js_errors()
        assert console.js_errors() == []
        print(f"\nconsole back on the other process {', '.join(f'{t:.2f}' for t in back_after)} s after SIGTERM")
    finally:
        context.close()
        balancer.stop()
