"""LOG_FORMAT=json: every line a JSON object naming the request, task, ticket or offer it concerns, and
no IBAN in any line."""

import io
import json
import logging
import time

import httpx
import pytest

from agents.models import Agent
from core.log_context import JsonFormatter, log_bound
from core.log_redaction import IbanRedactingFilter
from tests.factories import AgentFactory, SkillFactory, integration_with_token
from tests.ops.conftest import start_quiet_worker
from tests.tickets.receiver import Receiver
from tests.wsclient import AgentSocket

IBAN = "DE89370400440532013000"


def json_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(IbanRedactingFilter())
    logger = logging.getLogger(name)
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.INFO
    return logger, stream


def test_a_json_line_carries_the_bound_ids_and_its_own_and_no_iban():
    logger, stream = json_logger("tests.json_logs.unit")
    with log_bound(request_id="req-1", ticket_id="t-1"):
        logger.info("payout details saved: %s", IBAN, extra={"offer_id": "o-1"})
        try:
            raise ValueError(f"bad account {IBAN.lower()}")
        except ValueError:
            logger.exception("could not save")
    logger.info("outside")
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "payout details saved: [IBAN redacted]"
    assert (first["request_id"], first["ticket_id"], first["offer_id"]) == ("req-1", "t-1", "o-1")
    assert first["level"] == "INFO"
    assert second["request_id"] == "req-1" and "ValueError" in second["exception"]
    assert IBAN not in stream.getvalue() and IBAN.lower() not in stream.getvalue()
    assert "request_id" not in third and "ticket_id" not in third


def read_json_lines(process) -> list[dict]:
    lines = [line for line in process.log_path.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{process.name} wrote a line that is not JSON: {line!r}") from None
    return parsed


def wait_until(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_every_line_of_the_web_worker_and_engine_is_json_with_the_ids_it_concerns(own_stack):
    # As deploy/README.md runs it: uvicorn's import-time deprecation notice is not a log line.
    stack = own_stack(env={"LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "PYTHONWARNINGS": "ignore::DeprecationWarning"})
    stack.add_web()
    start_quiet_worker(stack)
    stack.start_dispatcher()

    SkillFactory(code="refunds")
    receiver = Receiver(fail_first=1).start()  # the first delivery fails: the worker logs it and retries
    try:
        # A name of words: a random hex one may look like an IBAN to the redaction, and be replaced.
        _, token = integration_with_token(name="json logs bot", webhook_url=receiver.url)
        agent = AgentFactory(languages=["sv"], skills={"refunds": 3})
        socket = AgentSocket(stack.ws_url(), agent)
        wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="online", open_sockets__gt=0).exists())
        response = httpx.post(
            f"{stack.base_url}/api/v1/tickets/",
            json={
                "external_id": "json-logs-1",
                "customer": {"ref": "c-1", "display_name": "Mira"},
                "language": "sv",
                "skills": ["refunds"],
                "reason": "customer_request",
                "summary": f"Refund to {IBAN}",
                "transcript": [{"role": "customer", "text": "Refund please", "at": "2026-11-21T10:00:00+01:00"}],
            },
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "bot-req-4711"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == "bot-req-4711"
        ticket_id = response.json()["id"]
        offer = socket.expect("offer", timeout=20)
        socket.send(type="accept", offer_id=offer["offer_id"])
        socket.expect("assigned")
        wait_until(lambda: len(receiver.accepted) >= 1)
        other = httpx.get(f"{stack.base_url}/healthz", timeout=5)
        assert len(other.headers["X-Request-ID"]) == 36  # a new UUID when the caller sends none
    finally:
        receiver.stop()
    stack.stop()

    web, worker, engine = (read_json_lines(p) for p in (stack.web[0], stack.worker, stack.dispatcher))
    for line in web + worker + engine:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert IBAN not in json.dumps(line)

    def one(lines, message):
        found = [line for line in lines if line["message"].startswith(message)]
        assert found, f"no line {message!r} in {[line['message'] for line in lines]}"
        return found[0]

    escalated = one(web, "ticket escalated")
    assert (escalated["request_id"], escalated["ticket_id"]) == ("bot-req-4711", ticket_id)
    made = one(engine, "offer made")
    assert (made["offer_id"], made["ticket_id"], made["agent_id"]) == (offer["offer_id"], ticket_id, str(agent.pk))
    accepted = one(web, "offer accepted")  # from the agent's socket frame
    assert (accepted["offer_id"], accepted["ticket_id"], accepted["agent_id"]) == (
        offer["offer_id"],
        ticket_id,
        str(agent.pk),
    )
    failed = one(worker, "webhook ticket.")
    assert failed["ticket_id"] == ticket_id and failed["task_id"] and failed["task"].endswith("_task")
    assert "failed" in failed["message"]
    delivered = [line for line in worker if "delivered" in line["message"]]
    assert delivered and all(line["ticket_id"] == ticket_id and line["task_id"] for line in delivered)
