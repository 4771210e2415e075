"""The websockets fuzzed against the real ASGI server (uvicorn): /ws/agent/ and /ws/supervisor/.

Random and malformed frames (text that is not JSON, binary frames, JSON that is not an object, types that
are not text or not known, frames over the size limit, JSON nested too deep, fields of the wrong type,
another agent's offer and ticket ids) from several sockets at once, each paced under the frame rate; one
socket of each route floods instead. Unauthenticated clients, bad tokens and the wrong role knock too.

Asserted: every bad frame is answered with an `error` frame with a code (never "server_error": a handler
that raised something else), a well-behaved socket on the same server keeps answering its pings
throughout, the flooders are closed with 4429, a frame sent after the close goes nowhere, another
agent's offer is untouched, and the server process is the one that started (no restart).

A fresh random seed each run (FUZZ_SEED replays one), printed with the figures in the pytest summary.
WS_FUZZ_SECONDS (default 10) is how long the fuzzing sockets send.
"""

import json
import os
import random
import string
import threading
import time
import uuid
from collections import Counter

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from agents.services import person_token_issue
from core.limits import FRAME_BURST, FRAME_FLOOD_CLOSE_CODE, FRAMES_PER_SECOND
from core.sockets import MAX_FRAME_BYTES
from dispatch.models import Offer
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, UserFactory, integration_with_token
from tests.security.fuzz_figures import FIGURES, SEED
from tests.security.test_ws_authz import pending_offer_to

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SECONDS = float(os.environ.get("WS_FUZZ_SECONDS", "10"))
FRAMES_PER_SECOND_SENT = FRAMES_PER_SECOND * 0.6  # a fuzzing socket stays under the rate: it is not flooding
AGENT_FRAME_TYPES = ("ping", "sync", "presence", "ack", "accept", "decline", "wrap_up_done")
ANSWER_SECONDS = 10


def _text(rng: random.Random, length: int) -> str:
    alphabet = string.printable + "\x00\u00e9\u4e2d\U0001f600\ufffd"
    return "".join(rng.choice(alphabet) for _ in range(length))


def _nested_text(rng: random.Random, depth: int) -> str:
    """JSON text of arrays and objects `depth` deep, written by hand: json.dumps recurses past ~1,000."""
    opening = [rng.choice(("[", '{"a": ')) for _ in range(depth)]
    closing = ["]" if bracket == "[" else "}" for bracket in reversed(opening)]
    return "".join(opening) + rng.choice(("1", '"x"', "null")) + "".join(closing)


def _odd_value(rng: random.Random, foreign: dict):
    """A value of a wrong type or an id that is not the socket's own."""
    return rng.choice(
        [
            None,
            rng.randint(-(2**70), 2**70),
            rng.random(),
            True,
            [],
            {"offer_id": foreign["offer_id"]},
            "",
            _text(rng, rng.randint(1, 40)),
            "x" * rng.randint(100, 5000),
            str(uuid.UUID(int=rng.getrandbits(128))),
            foreign["offer_id"],
            foreign["ticket_id"],
        ]
    )


def bad_frame(rng: random.Random, foreign: dict) -> tuple[str, str | bytes]:
    """(kind, payload) of a frame the socket must answer with an `error` frame."""
    kind = rng.choice(
        [
            "not json",
            "binary",
            "json not an object",
            "no type",
            "type not text",
            "unknown type",
            "over the size limit",
            "nested too deep",
            "wrong field types",
            "another agent's ids",
            "bad presence",
        ]
    )
    if kind == "not json":
        payload: str | bytes = "{" + _text(rng, rng.randint(0, 200))
    elif kind == "binary":
        payload = rng.randbytes(rng.randint(0, 2000))
    elif kind == "json not an object":
        payload = json.dumps(rng.choice([1, "ping", None, [], [{"type": "ping"}], True, 1.5]))
    elif kind == "no type":
        payload = json.dumps({"offer_id": foreign["offer_id"], "status": "online"})
    elif kind == "type not text":
        payload = json.dumps({"type": rng.choice([1, None, [], {"ping": 1}, True, ["ping"]])})
    elif kind == "unknown type":
        payload = json.dumps({"type": rng.choice(["", "PING", "error", "state", "__init__", _text(rng, 12)])})
    elif kind == "over the size limit":
        payload = json.dumps({"type": "ping", "pad": "x" * (MAX_FRAME_BYTES + rng.randint(1, 200_000))})
    elif kind == "nested too deep":
        depth = rng.choice([40, 200, 2000, 3000])
        frame_type = json.dumps(rng.choice(AGENT_FRAME_TYPES))
        payload = f'{{"type": {frame_type}, "offer_id": {_nested_text(rng, depth)}}}'
    elif kind == "wrong field types":
        frame_type = rng.choice(["ack", "accept", "decline", "wrap_up_done"])
        payload = json.dumps(
            {"type": frame_type, "offer_id": _odd_value(rng, foreign), "ticket_id": _odd_value(rng, foreign)}
            | ({"reason": rng.choice([5, [], {"a": 1}])} if frame_type == "decline" else {})
        )
    elif kind == "another agent's ids":
        frame_type = rng.choice(["ack", "accept", "decline", "wrap_up_done"])
        payload = json.dumps({"type": frame_type, "offer_id": foreign["offer_id"], "ticket_id": foreign["ticket_id"]})
    else:
        payload = json.dumps({"type": "presence", "status": rng.choice([None, 5, [], "busy", "ONLINE", "x" * 300])})
    return kind, payload


class Figures:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = Counter()
        self.answered = Counter()
        self.codes = Counter()
        self.answer_seconds: list[float] = []
        self.finished = 0
        self.problems: list[str] = []

    def problem(self, text: str):
        with self.lock:
            self.problems.append(text)


def fuzz_socket(url: str, token: str, first_frame: str, rng: random.Random, foreign: dict, figures: Figures, until):
    ws = connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=15, max_size=None)
    try:
        _read_until(ws, lambda f: f.get("type") == first_frame)
        while time.monotonic() < until:
            started = time.monotonic()
            kind, payload = bad_frame(rng, foreign)
            ws.send(payload)
            with figures.lock:
                figures.sent[kind] += 1
            answer = _read_until(ws, lambda f: f.get("type") == "error")
            if answer is None:
                figures.problem(f"{url} {kind}: no error frame within {ANSWER_SECONDS}s for {str(payload)[:200]!r}")
                return
            code = answer.get("code")
            with figures.lock:
                figures.answered[kind] += 1
                figures.codes[code] += 1
                figures.answer_seconds.append(time.monotonic() - started)
            if not isinstance(code, str) or not code or code == "server_error":
                figures.problem(f"{url} {kind}: answered {answer} for {str(payload)[:200]!r}")
            time.sleep(max(0.0, 1 / FRAMES_PER_SECOND_SENT - (time.monotonic() - started)))
    except ConnectionClosed as closed:
        figures.problem(f"{url}: a paced fuzzing socket was closed ({closed})")
    except Exception as failure:  # noqa: BLE001 - the fuzzer's own failure must fail the test, not a thread
        figures.problem(f"{url}: the fuzzing socket failed: {failure!r}")
    finally:
        ws.close()
    with figures.lock:
        figures.finished += 1


def _read_until(ws, wanted, timeout: float = ANSWER_SECONDS) -> dict | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            return None
        if wanted(frame):
            return frame
    return None


def well_behaved_socket(url: str, token: str, figures: Figures, stop: threading.Event) -> int:
    """Pings twice a second while the fuzzers run; every ping must be answered within 3 s."""
    pongs = 0
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=15) as ws:
        _read_until(ws, lambda f: f.get("type") == "state")
        while not stop.is_set():
            ws.send(json.dumps({"type": "ping"}))
            if _read_until(ws, lambda f: f.get("type") == "pong", timeout=3) is None:
                figures.problem("the well-behaved socket's ping went unanswered for 3 s")
                return pongs
            pongs += 1
            stop.wait(0.5)
        ws.send(json.dumps({"type": "sync"}))
        if _read_until(ws, lambda f: f.get("type") == "state", timeout=5) is None:
            figures.problem("the well-behaved socket's sync went unanswered")
    return pongs


def flood(url: str, token: str, rng: random.Random) -> tuple[int, int | None, bool, bool]:
    """Frames sent until the server closed the socket, its close code, whether a too_many_frames error
    came first, and whether a frame sent after the close was refused."""
    sent = 0
    warned = False
    ws = connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=15, max_size=None)

    def is_warning(frame: dict) -> bool:
        return frame.get("type") == "error" and frame.get("code") == "too_many_frames"

    try:
        for number in range(FRAME_BURST * 20):
            ws.send(json.dumps({"type": "ping"}) if rng.random() < 0.7 else rng.randbytes(64))
            sent += 1
            # What the server answered so far is read now and then: a client that never reads stalls
            # the server's writes (its own queue full), and that is not the flood being measured.
            while number % 20 == 19:
                try:
                    warned = is_warning(json.loads(ws.recv(timeout=0))) or warned
                except TimeoutError:
                    break
    except ConnectionClosed:
        pass  # closed while still sending: what the server said before is read below
    try:
        while True:
            warned = is_warning(json.loads(ws.recv(timeout=15))) or warned
    except ConnectionClosed:
        pass
    except TimeoutError:
        return sent, None, warned, False
    try:
        ws.send(json.dumps({"type": "ping"}))
        after_close_refused = False
    except ConnectionClosed:
        after_close_refused = True
    return sent, ws.close_code, warned, after_close_refused


def knock(url: str, headers: dict) -> bool:
    """Whether a handshake was refused (an HTTP refusal, or a close before any frame)."""
    try:
        with connect(url, additional_headers=headers, open_timeout=15) as ws:
            ws.send(json.dumps({"type": "ping"}))
            ws.recv(timeout=5)
    except (InvalidStatus, ConnectionClosed):
        return True
    except TimeoutError:
        return False
    return False


def test_fuzzed_sockets_get_error_frames_floods_are_closed_and_the_server_stays_up(live_stack):
    set_policy(offer_timeout_seconds=300)  # the foreign offer stays pending while the fuzzers aim at it
    rng = random.Random(SEED)
    web = live_stack.web[0]
    server_pid = web.process.pid

    owner = AgentFactory(languages=["sv"], skills={"payments": 3})
    foreign_offer = pending_offer_to(owner)
    foreign = {"offer_id": str(foreign_offer.pk), "ticket_id": str(foreign_offer.ticket_id)}
    fuzzing_agent = AgentFactory(languages=["de"])
    agent_token = person_token_issue(user=fuzzing_agent.user)
    supervisor_token = person_token_issue(user=UserFactory(role="supervisor"))
    calm_token = person_token_issue(user=AgentFactory(languages=["de"]).user)
    agent_url, supervisor_url = live_stack.ws_url(path="/ws/agent/"), live_stack.ws_url(path="/ws/supervisor/")

    refused = Counter()
    for route_url in (agent_url, supervisor_url):
        for what, headers in {
            "no credentials": {},
            "a made-up token": {"Authorization": f"Bearer {_text(rng, 40).strip() or 'x'}"},
            "a malformed header": {"Authorization": "Bearer"},
            "an integration's token": {"Authorization": f"Bearer {integration_with_token()[1]}"},
        }.items():
            refused[what] += knock(route_url, headers)
    refused["wrong role"] += knock(supervisor_url, {"Authorization": f"Bearer {agent_token}"})
    refused["wrong role"] += knock(agent_url, {"Authorization": f"Bearer {supervisor_token}"})

    figures = Figures()
    until = time.monotonic() + SECONDS
    stop = threading.Event()
    pongs: list[int] = []
    floods: list[tuple] = []
    workers = [
        threading.Thread(
            target=fuzz_socket,
            args=(url, token, first, random.Random(rng.getrandbits(64)), foreign, figures, until),
        )
        for url, token, first in [(agent_url, agent_token, "state")] * 4
        + [(supervisor_url, supervisor_token, "board")] * 2
    ]
    workers += [
        threading.Thread(target=lambda *args: floods.append(flood(*args)), args=(url, token, flood_rng))
        for url, token, flood_rng in [
            (agent_url, agent_token, random.Random(rng.getrandbits(64))),
            (supervisor_url, supervisor_token, random.Random(rng.getrandbits(64))),
        ]
    ]
    calm = threading.Thread(target=lambda: pongs.append(well_behaved_socket(agent_url, calm_token, figures, stop)))
    calm.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=SECONDS + 120)
    stop.set()
    calm.join(timeout=30)

    frames_sent = sum(figures.sent.values()) + sum(sent for sent, *_ in floods)
    closed_for_flooding = sum(1 for _, code, *_ in floods if code == FRAME_FLOOD_CLOSE_CODE)
    restarts = 0 if web.alive() and web.process.pid == server_pid else 1
    FIGURES["websocket fuzz"] = {
        "seed (FUZZ_SEED to replay)": SEED,
        "frames sent": frames_sent,
        "bad frames sent by paced sockets": sum(figures.sent.values()),
        "errors answered": sum(figures.answered.values()),
        "error codes": dict(figures.codes.most_common()),
        "bad frames by kind": dict(figures.sent.most_common()),
        "sockets closed for flooding": f"{closed_for_flooding} of {len(floods)}",
        "flooders (frames sent, close code, warned, frame after close refused)": floods,
        "handshakes refused": f"{sum(refused.values())} of 10",
        "well-behaved pings answered": sum(pongs),
        "slowest error answer (s)": round(max(figures.answer_seconds, default=0), 3),
        "server restarts": restarts,
        "problems": len(figures.problems),
    }

    assert figures.problems == [], "\n".join(figures.problems[:20])
    assert figures.finished == 6, "a fuzzing socket stopped early"
    assert sum(figures.answered.values()) == sum(figures.sent.values()) > 0
    assert len(floods) == 2 and all(code == FRAME_FLOOD_CLOSE_CODE for _, code, *_ in floods), floods
    assert all(warned and after_close_refused for _, _, warned, after_close_refused in floods), floods
    assert sum(refused.values()) == 10, refused
    assert pongs and pongs[0] >= SECONDS  # two a second while the fuzzers ran
    assert restarts == 0, web.log_tail()
    assert "Traceback" not in web.log_tail(400), web.log_tail(400)
    offer = Offer.objects.get(pk=foreign_offer.pk)
    assert (offer.status, offer.delivered_at, offer.answered_at) == (
        foreign_offer.status,
        foreign_offer.delivered_at,
        foreign_offer.answered_at,
    )
