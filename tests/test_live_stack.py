"""The deployment shape, for real: uvicorn, a Celery worker and beat against the test database."""

import asyncio
import json

import httpx
import pytest
import websockets

from agents.services import person_token_issue
from config.celery import ping_task
from tests.factories import AgentFactory, UserFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


async def ws_roundtrip(url: str, headers: dict | None = None) -> dict:
    async with websockets.connect(url, additional_headers=headers or {}, open_timeout=10) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert first["type"] == "state"  # the server says where things stand before anything else
        await socket.send(json.dumps({"type": "ping"}))
        return json.loads(await asyncio.wait_for(socket.recv(), 10))


def test_pages_and_docs_answer(live_stack):
    assert httpx.get(live_stack.base_url + "/login/").status_code == 200
    docs = httpx.get(live_stack.base_url + "/api/docs/")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = httpx.get(live_stack.base_url + "/api/schema/")
    assert schema.status_code == 200
    assert "/api/v1/agents/" in schema.text


def test_a_task_round_trips_through_the_worker(live_stack):
    assert ping_task.delay("hello").get(timeout=30) == "hello"


def test_bearer_token_opens_the_agent_websocket(live_stack):
    agent = AgentFactory()
    token = person_token_issue(user=agent.user)
    frame = asyncio.run(ws_roundtrip(live_stack.ws_url(), {"Authorization": f"Bearer {token}"}))
    assert frame == {"type": "pong"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer dpp_wrong"}])
def test_unauthenticated_websocket_handshakes_are_refused(live_stack, headers):
    with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
        asyncio.run(ws_roundtrip(live_stack.ws_url(), headers))


def test_a_supervisor_token_does_not_open_the_agent_websocket(live_stack):
    token = person_token_issue(user=UserFactory(role="supervisor"))
    with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
        asyncio.run(ws_roundtrip(live_stack.ws_url(), {"Authorization": f"Bearer {token}"}))


def test_a_browser_handshake_from_a_foreign_origin_is_refused_even_with_a_session(live_stack, client):
    agent = AgentFactory()
    client.force_login(agent.user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    good = asyncio.run(ws_roundtrip(live_stack.ws_url(), {"Cookie": cookie, "Origin": live_stack.base_url}))
    assert good == {"type": "pong"}
    with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
        asyncio.run(ws_roundtrip(live_stack.ws_url(), {"Cookie": cookie, "Origin": "https://evil.example"}))
