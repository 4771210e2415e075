"""An agent's IBAN is seen in full by the agent and by finance only: masked everywhere else, in every
API response, page and websocket frame, and never written to the logs."""

import io
import json
import logging
from contextlib import contextmanager

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient
from websockets.sync.client import connect

from agents.models import Agent
from agents.services import person_token_issue
from tests.factories import AgentFactory, UserFactory, integration_with_token
from tests.security.counters import fresh_rate_counters  # noqa: F401 - autouse fixture
from tests.wsclient import AgentSocket

IBAN = "DE04100100104711081542"  # valid, and used nowhere else (the schema's examples use other IBANs)
IBAN_SPACED = "DE04 1001 0010 4711 0815 42"
BIC = "PBNKDEFFXXX"
MASKED = "DE04 **** **** **** **15 42"


def with_payout_details(agent: Agent) -> Agent:
    Agent.objects.filter(pk=agent.pk).update(payout_holder="Anna Example", payout_iban=IBAN, payout_bic=BIC)
    agent.refresh_from_db()
    return agent


def carries_the_iban(text: str) -> bool:
    return IBAN in text or IBAN_SPACED in text or IBAN[4:] in text


def body_text(response) -> str:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def named_get_routes() -> list[tuple[str, list[str]]]:
    """(url name, its parameters) for every named route of the project, namespaces included."""
    routes = []

    def walk(patterns, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
            elif isinstance(entry, URLPattern) and entry.name:
                routes.append((namespace + entry.name, list(entry.pattern.converters)))

    walk(get_resolver().url_patterns, "")
    return routes


def crawl(client, values: dict[str, str]) -> dict[str, str]:
    """GET every route whose parameters can be filled from `values`; url -> body."""
    bodies = {}
    for name, parameters in named_get_routes():
        if name.startswith("admin:") or name in ("logout", "set_language") or not set(parameters) <= set(values):
            continue
        url = reverse(name, kwargs={p: values[p] for p in parameters})
        bodies[url] = body_text(client.get(url))
    return bodies


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {person_token_issue(user=user)}")
    return client


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_supervisors_see_a_masked_iban_in_the_agent_api():
    agent = with_payout_details(AgentFactory())
    supervisor = token_client(UserFactory(role="supervisor"))

    one = supervisor.get(f"/api/v1/agents/{agent.pk}/")
    listed = supervisor.get("/api/v1/agents/")

    assert one.json()["payout_iban_masked"] == MASKED
    assert [a["payout_iban_masked"] for a in listed.json() if a["id"] == str(agent.pk)] == [MASKED]
    assert not carries_the_iban(one.content.decode()) and not carries_the_iban(listed.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["supervisor", "another agent", "integration"])
def test_no_page_or_api_shows_the_iban_to_anyone_but_the_agent_and_finance(role):
    agent = with_payout_details(AgentFactory())
    if role == "integration":
        integration, token = integration_with_token()
        clients = [APIClient()]
        clients[0].credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        user = UserFactory(role="supervisor") if role == "supervisor" else AgentFactory().user
        clients = [token_client(user), session_client(user)]

    leaks = [
        url
        for client in clients
        for url, body in crawl(client, {"agent_id": str(agent.pk)}).items()
        if carries_the_iban(body)
    ]

    assert leaks == []


@pytest.mark.django_db
def test_the_crawl_does_reach_the_iban_where_it_belongs():
    """The same crawl as the agent themself and as finance finds the IBAN: it would notice a leak."""
    agent = with_payout_details(AgentFactory())
    own = crawl(session_client(agent.user), {"agent_id": str(agent.pk)})

    assert carries_the_iban(token_client(agent.user).get("/api/v1/me/").content.decode())
    assert any(carries_the_iban(body) for body in own.values())  # the agent's profile page


@contextmanager
def captured_log_output():
    """What every console handler of every logger writes while the block runs: the ones settings.LOGGING
    configures, and any a library or Django's defaults left in place."""
    loggers = [
        logging.getLogger(),
        *(lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)),
    ]
    # Exactly StreamHandler: pytest's own capturing handlers are subclasses, and not the platform's log.
    handlers = list({id(h): h for lg in loggers for h in lg.handlers if type(h) is logging.StreamHandler}.values())
    assert handlers, "settings.LOGGING configures a console handler on the root logger"
    buffer = io.StringIO()
    streams = [h.setStream(buffer) for h in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_a_refused_iban_is_not_written_to_the_request_log(settings, debug):
    settings.DEBUG = debug  # Django's default loggers print only with DEBUG: they must not bypass the filter
    agent = AgentFactory()
    client = token_client(agent.user)
    bad_iban = "DE04100100104711081543"  # checksum off by one: IBAN-shaped but invalid

    with captured_log_output() as output:
        response = client.put(
            "/api/v1/me/payout-details/", {"holder": "Anna", "iban": bad_iban, "bic": BIC}, format="json"
        )
        client.get(f"/api/v1/me/payout-details/{IBAN}/")  # an IBAN in a URL: Django logs the path

    assert response.status_code == 400 and "iban" in response.json()
    log = output.getvalue()
    assert "Bad Request: /api/v1/me/payout-details/" in log  # the request log is there...
    assert "Not Found: /api/v1/me/payout-details/[IBAN redacted]/" in log
    assert bad_iban not in log and not carries_the_iban(log)  # ...without the account numbers


def test_an_iban_in_a_message_argument_or_traceback_is_redacted():
    logger = logging.getLogger("payouts.batches")

    with captured_log_output() as output:
        logger.warning("payout to %s held", IBAN_SPACED)
        logger.warning("payout to %(iban)s held", {"iban": IBAN.lower()})
        try:
            raise ValueError(f"bank refused {IBAN}")
        except ValueError:
            logger.exception("export failed")

    log = output.getvalue()
    assert log.count("[IBAN redacted]") == 3
    assert "ValueError: bank refused [IBAN redacted]" in log
    assert not carries_the_iban(log.upper())


def test_ids_and_digests_in_logs_are_left_alone():
    text = "ticket 8a6e0d1c-5b1f-4f7e-9a51-0f2b3c4d5e6f sha256 " + "ab12" * 16
    with captured_log_output() as output:
        logging.getLogger("tickets").warning(text)

    assert text in output.getvalue()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_no_websocket_frame_carries_the_iban_to_a_supervisor_or_another_agent(live_stack):
    agent = with_payout_details(AgentFactory())
    other = AgentFactory()
    supervisor = UserFactory(role="supervisor")
    token = person_token_issue(user=supervisor)
    own_socket = AgentSocket(live_stack.ws_url(), agent=agent)  # online, so the board shows them
    other_socket = AgentSocket(live_stack.ws_url(), agent=other)
    try:
        with connect(
            live_stack.ws_url(path="/ws/supervisor/"), additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            board = ws.recv(timeout=30)
        other_frames = [other_socket.state, *_frames_for_a_moment(other_socket)]
    finally:
        other_socket.close()
        own_socket.close()

    assert json.loads(board)["type"] == "board"
    assert not carries_the_iban(board)
    assert not any(carries_the_iban(json.dumps(frame)) for frame in other_frames)


def _frames_for_a_moment(socket: AgentSocket) -> list[dict]:
    socket.send(type="ping")
    socket.expect("pong")
    return socket.received
