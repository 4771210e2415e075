"""Playwright fixtures: Debian's Chromium, headless, against the live stack (real uvicorn, Celery
worker and beat on the test database). Screenshots go to screenshots/ at the repository root."""

import os
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from api.tickets import ESCALATION_EXAMPLE
from tests.factories import PASSWORD

# The default 5 s is too short on a shared 2-core machine, where a page reload under a full test run
# can take longer; a real failure still fails, only later.
expect.set_options(timeout=15_000)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread while
# it is started, and the websocket and channel-layer code of later test modules needs that thread free.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    # Playwright's sync API keeps an event loop running in this thread, which makes Django refuse ORM
    # calls from the test body; they are plain synchronous calls here, so allow them (Playwright's and
    # pytest-django's documented workaround).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ConsolePage:
    """One browser tab of the console, with the JavaScript errors it logged and the websocket frames."""

    def __init__(self, page: Page, base_url: str, size: str):
        self.page = page
        self.base_url = base_url
        self.size = size
        self.errors: list[str] = []
        self.sent_frames: list[str] = []
        self.received_frames: list[str] = []
        self.sockets = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws):
        self.sockets.append(ws)
        ws.on("framesent", lambda payload: self.sent_frames.append(payload))
        ws.on("framereceived", lambda payload: self.received_frames.append(payload))

    def goto(self, path: str):
        self.page.goto(self.base_url + path)
        return self.page

    def sign_in(self, username: str, password: str = PASSWORD):
        self.goto("/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.locator("form button[type=submit]").click()
        self.page.wait_for_url(re.compile(r".*/agent/$"))

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.size}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def wait_for(self, condition, timeout: float = 20):
        """Like wait_until, but lets Playwright deliver its events (websocket frames) while waiting:
        the sync API only dispatches them inside its own calls, never during time.sleep."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            self.page.wait_for_timeout(100)
        raise AssertionError(f"condition not met within {timeout}s")

    def js_errors(self) -> list[str]:
        # The browser logs every 4xx answer (a 400 the page shows next to a field is expected) and every
        # refused websocket while the server is down (the reconnect test); JavaScript errors remain.
        expected = ("Failed to load resource", "WebSocket connection to")
        return [e for e in self.errors if not e.startswith(expected)]


@pytest.fixture
def open_console(browser, live_stack):
    contexts = []

    def open_(size: str = "desktop", locale: str = "en-US", timezone_id: str | None = None) -> ConsolePage:
        viewport = PHONE if size == "phone" else DESKTOP
        context = browser.new_context(
            viewport=viewport,
            locale=locale,
            timezone_id=timezone_id,
            is_mobile=size == "phone",
            has_touch=size == "phone",
            reduced_motion="reduce",
        )
        context.grant_permissions(["notifications"], origin=live_stack.base_url)
        contexts.append(context)
        return ConsolePage(context.new_page(), live_stack.base_url, size)

    yield open_
    for context in contexts:
        context.close()
    # Closing a tab closes its websocket, and the server records that in the database. Let it finish
    # before the test database is flushed: a TRUNCATE racing that write deadlocks on PostgreSQL.
    from agents.models import AgentConnection

    wait_until(lambda: not AgentConnection.objects.exists(), timeout=30)


def wait_until(condition, timeout: float = 20, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def escalate(base_url: str, token: str, **fields) -> dict:
    """A ticket posted through the intake API, as the bot platform does it."""
    body = {**ESCALATION_EXAMPLE, "external_id": f"chat-{time.time_ns()}", **fields}
    response = httpx.post(
        f"{base_url}/api/v1/tickets/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=15
    )
    assert response.status_code == 201, response.text
    return response.json()


__all__ = ["expect", "escalate", "wait_until"]
