"""Chromium for the supervisor console's end-to-end tests.

Playwright's sync API keeps an asyncio loop running in the thread that started it, and a second
sync_playwright() in that thread is refused. So that these tests run in the same session as other
browser tests, Playwright runs here in a thread of its own and each test hands its scenario to it
(`chromium.run(scenario)`); the scenario uses the ORM from that thread as any test would.
"""

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

# The default 5 s is too short on a shared 2-core machine under a full test run; a real failure still
# fails, only later.
expect.set_options(timeout=15_000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1440, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots" / "supervisor"


class ChromiumThread:
    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self.playwright = None
        self.browser = None

    def _start(self):
        from playwright.sync_api import sync_playwright

        # The loop Playwright runs in this thread makes Django refuse ORM calls; they are plain
        # synchronous calls here (Playwright's and pytest-django's documented workaround).
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def _stop(self):
        self.browser.close()
        self.playwright.stop()

    def start(self):
        self.executor.submit(self._start).result(timeout=120)

    def stop(self):
        self.executor.submit(self._stop).result(timeout=60)
        self.executor.shutdown()

    def run(self, scenario, timeout: float = 240):
        def wrapped():
            from django.db import connections

            try:
                return scenario(self.browser)
            finally:
                connections.close_all()

        return self.executor.submit(wrapped).result(timeout=timeout)


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    thread = ChromiumThread()
    thread.start()
    yield thread
    thread.stop()


def new_page(browser, base_url: str):
    context = browser.new_context(viewport=DESKTOP, locale="en-US", reduced_motion="reduce")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.base_url = base_url
    return page


def sign_in(page, username: str, lands_on: str):
    page.goto(page.base_url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(f".*{re.escape(lands_on)}$"))


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_until(condition, timeout: float = 20, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
