"""Request-level limits (README "Limits", core.limits): a body over the size limit is a 413, JSON nested too
deep a 400, a socket sending frames faster than allowed is closed with 4429. Never a 500 or a hung worker."""

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from agents.services import person_token_issue
from core.limits import FRAME_BURST, FRAME_FLOOD_CLOSE_CODE, JSON_DEPTH_MAX
from tests.factories import AgentFactory, SkillFactory
from tests.security.counters import fresh_rate_counters  # noqa: F401 - autouse fixture
from tests.tickets.test_intake import escalation
from tests.wsclient import AgentSocket
from tickets.models import Ticket

ONE_MEGABYTE = 1024 * 1024


def nested(depth: int) -> dict:
    document: dict = {"leaf": "x"}
    for _ in range(depth - 1):
        document = {"a": document}
    return document


def nested_text(depth: int) -> str:
    """`nested(depth)` as JSON text, written by hand: json.dumps itself recurses past ~1,000 levels."""
    return '{"a": ' * (depth - 1) + '{"leaf": "x"}' + "}" * (depth - 1)


@pytest.mark.django_db
def test_a_body_over_the_limit_is_a_413_and_nothing_is_stored(integration_client):
    body = escalation(external_id="too-big", summary="x" * (ONE_MEGABYTE + 1))

    response = integration_client.post("/api/v1/tickets/", body, format="json")

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert "at most 1048576" in response.json()["message"]
    assert not Ticket.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [JSON_DEPTH_MAX + 1, 5000])
def test_json_nested_too_deep_is_a_400_saying_so(integration_client, depth):
    """5,000 levels is beyond Python's recursion limit: the parser's RecursionError was a 500."""
    SkillFactory(code="payments")
    body = json.dumps(escalation(external_id="deep", handoff={"x": 1}))
    body = body.replace('{"x": 1}', nested_text(depth))

    response = integration_client.post("/api/v1/tickets/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["non_field_errors"] == [
        f"JSON may nest objects and arrays at most {JSON_DEPTH_MAX} levels deep."
    ]
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_json_as_deep_as_allowed_is_read(integration_client):
    SkillFactory(code="payments")
    body = escalation(external_id="deep-enough", handoff={"verified_facts": nested(JSON_DEPTH_MAX - 2)})

    response = integration_client.post("/api/v1/tickets/", body, format="json")

    assert response.status_code == 201, response.content


@pytest.mark.django_db(transaction=True)
def test_the_asgi_server_answers_413_before_reading_a_body_over_the_limit(live_stack, integration_with_token):
    _, token = integration_with_token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    declared = httpx.post(f"{live_stack.base_url}/api/v1/tickets/", content=b"{" * (2 * ONE_MEGABYTE), headers=headers)

    def chunks():
        for _ in range(3):
            yield b" " * ONE_MEGABYTE

    chunked = httpx.post(f"{live_stack.base_url}/api/v1/tickets/", content=chunks(), headers=headers)

    assert (declared.status_code, declared.json()["code"]) == (413, "too_large")
    assert (chunked.status_code, chunked.json()["code"]) == (413, "too_large")


@pytest.mark.django_db(transaction=True)
def test_a_declared_length_far_over_the_limit_is_refused_without_waiting_for_the_body(live_stack):
    """The server answers at once: it does not wait for (or spool) 10 GB that will never come."""
    address = urlsplit(live_stack.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(
            b"POST /api/v1/tickets/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n{"
        )
        started = time.monotonic()
        answer = connection.recv(4096)

    assert answer.startswith(b"HTTP/1.1 413")
    assert time.monotonic() - started < 2


@pytest.mark.django_db(transaction=True)
def test_a_socket_flooding_frames_is_closed_with_4429_and_its_neighbour_keeps_working(live_stack):
    flooder_agent, calm_agent = AgentFactory(), AgentFactory()
    flooder = AgentSocket(live_stack.ws_url(), flooder_agent, presence=None)
    calm = AgentSocket(live_stack.ws_url(), calm_agent, presence=None)

    with pytest.raises(ConnectionClosed):
        for _ in range(FRAME_BURST * 10):
            flooder.ws.send(json.dumps({"type": "ping"}))
        for _ in range(FRAME_BURST * 10):
            flooder.next_frame(timeout=5)

    assert flooder.ws.close_code == FRAME_FLOOD_CLOSE_CODE
    assert any(f.get("type") == "error" and f.get("code") == "too_many_frames" for f in flooder.received)
    calm.send(type="ping")
    calm.expect("pong", timeout=5)
    calm.close()


@pytest.mark.django_db(transaction=True)
def test_a_socket_within_the_rate_is_never_closed(live_stack):
    agent = AgentFactory()
    sock = AgentSocket(live_stack.ws_url(), agent, token=person_token_issue(user=agent.user), presence=None)

    for _ in range(FRAME_BURST - 5):
        sock.send(type="ping")
    for _ in range(FRAME_BURST - 5):
        sock.expect("pong", timeout=5)

    sock.close()
