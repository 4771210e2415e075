"""Every page of every role, in headless Chromium at a laptop's size (in Swedish) and a phone's (in
German): the page itself never scrolls sideways (a wide table scrolls inside its own box) and axe-core
finds no serious or critical accessibility violation. A screenshot of each page goes to
screenshots/<role>-<page>-<size>.png."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from agents import shifts
from payouts.batches import payout_batch_approve, payout_batch_create
from tests.browser.conftest import escalate
from tests.factories import PASSWORD, AgentFactory, UserFactory, integration_with_token
from tests.payouts.factories import line, payable_agent
from tests.wsclient import AgentSocket

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SERIOUS = ("serious", "critical")

PAGES = {
    "agent": [
        ("console", "/agent/"),
        ("profile", "/agent/profile/"),
        ("earnings", "/agent/earnings/"),
        ("shifts", "/agent/shifts/"),
        ("notice", "/algorithm-notice/"),
    ],
    "supervisor": [
        ("board", "/supervisor/"),
        ("tickets", "/supervisor/tickets/"),
        ("ticket", "/supervisor/tickets/{ticket}/"),
        ("pool", "/supervisor/pool/"),
        ("agent", "/supervisor/pool/{agent}/"),
        ("appeals", "/supervisor/appeals/"),
        ("shifts", "/supervisor/shifts/"),
        ("quality", "/supervisor/quality/"),
        ("policy", "/supervisor/policy/"),
        ("hybrid", "/supervisor/hybrid/"),
        ("notice", "/algorithm-notice/"),
    ],
    "finance": [
        ("home", "/finance/"),
        ("batches", "/finance/batches/"),
        ("batch", "/finance/batches/{batch}/"),
        ("adjustments", "/finance/adjustments/"),
        ("rate-cards", "/finance/rate-cards/"),
        ("notice", "/algorithm-notice/"),
    ],
}


def _a_working_day(live_stack) -> dict:
    """What a page shows on an ordinary day: a ticket offered and accepted over a real socket (so its
    decision record and webhooks exist), one waiting, a published shift, and an approved payout batch."""
    base_url = live_stack.base_url
    supervisor = UserFactory(role="supervisor", username="sofia.supervisor")
    builder = UserFactory(role="finance", username="fiona.finance")
    approver = UserFactory(role="finance", username="frank.finance")
    _, token = integration_with_token()
    agent = payable_agent(languages=["de", "en"], skills={"payments": 4}, display_name="Greta Gründlich-Langname")
    AgentFactory(languages=["de"], skills={"payments": 2}, display_name="Lars L.")
    socket = AgentSocket(live_stack.ws_url(), agent)
    try:
        accepted = escalate(base_url, token, language="de", skills=["payments"])
        offer = socket.expect("offer", timeout=30)
        socket.send(type="ack", offer_id=offer["offer_id"])
        socket.send(type="accept", offer_id=offer["offer_id"])
        socket.expect("assigned")
    finally:
        socket.close()
    escalate(base_url, token, language="sv", skills=["payments"], summary="Refund not received, second try")
    start = (timezone.now() + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    shifts.shift_publish(
        actor=supervisor,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=4),
        places=3,
        languages=["de"],
        skills=["payments"],
        hourly_guarantee_amount=Decimal("12.00"),
        hourly_guarantee_currency="EUR",
        note="Evening cover",
    )
    line(agent=agent, amount="4.80", created_at=timezone.now() - dt.timedelta(days=1))
    day = timezone.now().date() - dt.timedelta(days=1)
    batch = payout_batch_create(actor=builder, period_start=day, period_end=day, currency="EUR")
    payout_batch_approve(actor=approver, batch_id=batch.pk)
    return {
        "users": {"agent": agent.user.username, "supervisor": supervisor.username, "finance": builder.username},
        "ids": {"ticket": accepted["id"], "agent": str(agent.pk), "batch": str(batch.pk)},
    }


def _state_frames(console) -> int:
    return sum('"type": "state"' in frame or '"type":"state"' in frame for frame in console.received_frames)


def _sign_in(console, username: str) -> None:
    page = console.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/(agent|supervisor|finance)/$"))
    if page.url.endswith("/agent/"):
        # Leave the console only once its socket is up: a socket closed while the server is still
        # accepting it can leave its connection row behind (reported to the lead).
        console.wait_for(lambda: _state_frames(console) >= 1)


def _problems_of(page) -> list[str]:
    problems = []
    # A phone browser widens its layout viewport (and innerWidth with it) to fit a page that is too wide,
    # then zooms out: the screen's width, not innerWidth alone, is what the page must fit.
    screen = page.viewport_size["width"]
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if scroll_width > min(inner_width, screen):
        wide = page.evaluate(
            f"""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > {screen} + 1)
                .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > {screen} + 1))
                .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"""
        )
        problems.append(f"page is {scroll_width} px wide on a {screen} px screen ({', '.join(wide)})")
    results = Axe().run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in SERIOUS:
            targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
            problems.append(f"axe {violation['impact']} {violation['id']}: {violation['help']} at {targets}")
    return problems


@pytest.mark.parametrize("role", ["agent", "supervisor", "finance"])
def test_every_page_fits_a_laptop_and_a_phone_and_passes_axe(role, live_stack, open_console):
    day = _a_working_day(live_stack)
    failures = []
    # The phone reads German (longer words), the laptop Swedish: the pages must fit in every language.
    for size, locale in (("desktop", "sv-SE"), ("phone", "de-DE")):
        console = open_console(size, locale=locale)
        _sign_in(console, day["users"][role])
        for name, path in PAGES[role]:
            page = console.goto(path.format(**day["ids"]))
            page.wait_for_load_state("networkidle")
            if path == "/agent/":
                console.wait_for(lambda console=console: _state_frames(console) >= 2)
            assert page.url.endswith(path.format(**day["ids"])), f"{role} could not open {path}: {page.url}"
            console.screenshot(f"{role}-{name}")
            failures += [f"{role} {name} {size}: {problem}" for problem in _problems_of(page)]
        assert not console.js_errors(), console.js_errors()
    assert not failures, "\n".join(failures)
