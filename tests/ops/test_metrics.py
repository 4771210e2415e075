"""GET /metrics (CONTRACT.md "Operations"): who may read it, and the named metrics moving as a ticket is
escalated over REST and offered over a websocket by the live stack's separate processes."""

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.models import Agent
from tests.factories import AgentFactory, SkillFactory, integration_with_token
from tests.tickets.receiver import Receiver
from tests.wsclient import AgentSocket

CONTRACT_METRICS = {
    "dispatch_queue_length",
    "dispatch_offers_total",
    "dispatch_intake_to_offer_seconds",
    "dispatch_agents",
    "dispatch_websocket_connections",
    "dispatch_webhook_deliveries_total",
}


def samples(text: str) -> dict:
    """{(sample name, ((label, value), ...)): value} of an exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(base_url: str) -> dict:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_until(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


# --- Who may read it ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_token_only_this_machine_reads_the_metrics(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert "METRICS_TOKEN" in refused.json()["message"]


@pytest.mark.django_db
def test_with_a_token_set_every_reader_needs_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-scraper-token"
    for address in ("127.0.0.1", "203.0.113.9"):
        missing = client.get("/metrics", REMOTE_ADDR=address)
        assert missing.status_code == 401
        assert missing["WWW-Authenticate"].startswith("Bearer")
        wrong = client.get("/metrics", REMOTE_ADDR=address, HTTP_AUTHORIZATION="Bearer guessed")
        assert wrong.status_code == 401
        right = client.get("/metrics", REMOTE_ADDR=address, HTTP_AUTHORIZATION="Bearer s3cret-scraper-token")
        assert right.status_code == 200
        assert "dispatch_queue_length" in right.content.decode()


# --- The numbers move -----------------------------------------------------------------------------


def escalate(base_url: str, token: str, external_id: str) -> dict:
    body = {
        "external_id": external_id,
        "customer": {"ref": "c-metrics", "display_name": "Mira"},
        "language": "sv",
        "skills": ["refunds"],
        "reason": "customer_request",
        "summary": "Wants a refund",
        "transcript": [{"role": "customer", "text": "Refund please", "at": "2026-11-21T10:00:00+01:00"}],
    }
    response = httpx.post(
        f"{base_url}/api/v1/tickets/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_contracts_metrics_move_when_a_ticket_is_escalated_and_offered(live_stack):
    base = live_stack.base_url
    before = scrape(base)
    names = {name for name, _ in before}
    assert {f"{m}_count" if m.endswith("_seconds") else m for m in CONTRACT_METRICS} <= names
    for name in ("dispatch_task_lag_seconds_count", "dispatch_engine_pass_seconds_count"):
        assert name in names or wait_until(lambda n=name: n in {k for k, _ in scrape(base)})

    SkillFactory(code="refunds")
    receiver = Receiver().start()
    try:
        _, token = integration_with_token(webhook_url=receiver.url)
        ticket = escalate(base, token, "metrics-1")
        # Nobody speaks Swedish yet: the ticket waits, and the queue says so.
        wait_until(lambda: value(scrape(base), "dispatch_queue_length", language="sv") >= 1)

        agent = AgentFactory(languages=["sv"], skills={"refunds": 3})
        socket = AgentSocket(live_stack.ws_url(), agent)
        wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="online", open_sockets__gt=0).exists())
        offer = socket.expect("offer", timeout=20)
        assert offer["ticket"]["id"] == ticket["id"]
        socket.send(type="accept", offer_id=offer["offer_id"])
        socket.expect("assigned")
        wait_until(lambda: receiver.accepted)

        def moved():
            now = scrape(base)
            return now if (
                value(now, "dispatch_offers_total", outcome="accepted")
                > value(before, "dispatch_offers_total", outcome="accepted")
                and value(now, "dispatch_webhook_deliveries_total", outcome="delivered")
                > value(before, "dispatch_webhook_deliveries_total", outcome="delivered")
            ) else None

        after = wait_until(moved)
        # Counted by the dispatcher process, the web process and the worker: one scrape adds them up.
        assert value(after, "dispatch_offers_total", outcome="offered") >= value(
            before, "dispatch_offers_total", outcome="offered"
        ) + 1
        assert value(after, "dispatch_intake_to_offer_seconds_count") >= value(
            before, "dispatch_intake_to_offer_seconds_count"
        ) + 1
        assert value(after, "dispatch_engine_pass_tickets_count") > value(before, "dispatch_engine_pass_tickets_count")
        assert value(after, "dispatch_queue_length", language="sv") == 0
        assert value(after, "dispatch_websocket_connections", kind="agent") >= 1
        assert value(after, "dispatch_agents", presence="online") >= 1
        assert value(after, "dispatch_task_lag_seconds_count", queue="celery") > 0

        socket.close()
        wait_until(
            lambda: value(scrape(base), "dispatch_websocket_connections", kind="agent")
            == value(after, "dispatch_websocket_connections", kind="agent") - 1
        )
    finally:
        receiver.stop()
