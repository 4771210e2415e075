"""Agents' browser tabs under a deploy: a websocket that, like console/static/console/socket.js, reconnects
after a `reconnect` frame and close code 4012 at once with 0.1-1.5 s of jitter (otherwise after 0.5 s),
to the next server in its list (the load balancer's choice), and accepts every offer after thinking
for a moment, so that offers are in flight while processes restart."""

import json
import random
import threading
import time

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

CLOSE_CODE_RECONNECT = 4012


class RollingAgent:
    def __init__(
        self,
        urls: list[str],
        token: str,
        *,
        first: int = 0,
        think_seconds=(0.5, 2.0),
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
    ):
        self.urls = urls
        # How soon a dead line is noticed (the console: a ping every 20 s, 10 s for the pong).
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.token = token
        self.index = first
        self.think_seconds = think_seconds
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.connected = threading.Event()
        self.ws = None
        self.connects = 0
        self.reconnect_frames = 0
        self.close_codes: list[int | None] = []
        self.reconnect_seconds: list[float] = []  # from the close to the state frame of the next socket
        self.assigned: set[str] = set()
        self.accepted: set[str] = set()
        self.errors: list[dict] = []
        self.down_since: float | None = None
        self.state_times: list[float] = []  # time.monotonic() of every state frame (each (re)connect)
        self.offer_seen: dict[str, float] = {}  # offer id -> time.time() its frame first arrived
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return self.urls[self.index % len(self.urls)]

    def start(self) -> "RollingAgent":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        self.thread.join(timeout=15)

    def _run(self) -> None:
        while not self.stopped.is_set():
            wait = 0.5
            try:
                headers = {"Authorization": f"Bearer {self.token}"}
                with connect(
                    self.url,
                    additional_headers=headers,
                    open_timeout=5,
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout,
                    close_timeout=1,  # a dead line answers no close frame: do not wait for one
                ) as ws:
                    self.ws = ws
                    try:
                        self._session(ws)
                    except ConnectionClosed as closed:
                        code = closed.rcvd.code if closed.rcvd is not None else None
                        if not self.stopped.is_set():  # not the close of stop() itself
                            with self.lock:
                                self.close_codes.append(code)
                        if code == CLOSE_CODE_RECONNECT:
                            wait = random.uniform(0.1, 1.5)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidStatus):
                pass
            self.connected.clear()
            if self.stopped.is_set():
                return
            if self.down_since is None:
                self.down_since = time.monotonic()
            self.index += 1  # the load balancer sends the next connection elsewhere
            self.stopped.wait(wait)

    def _session(self, ws) -> None:
        first = json.loads(ws.recv(timeout=10))
        if first.get("type") != "state":
            return
        with self.lock:
            self.connects += 1
            self.state_times.append(time.monotonic())
            if self.down_since is not None:
                self.reconnect_seconds.append(time.monotonic() - self.down_since)
                self.down_since = None
        if self.connects == 1:
            ws.send(json.dumps({"type": "presence", "status": "online"}))
        self.connected.set()
        due: dict[str, float] = {}  # offer id -> when this agent answers it
        # An accept sent on a socket that then died may never have arrived: an offer the new socket's
        # state still lists as pending is answered again (as the agent would click it again).
        answered_here: set[str] = set()
        while not self.stopped.is_set():
            now = time.monotonic()
            for offer_id, at in list(due.items()):
                if at <= now:
                    ws.send(json.dumps({"type": "accept", "offer_id": offer_id}))
                    del due[offer_id]
                    answered_here.add(offer_id)
                    with self.lock:
                        self.accepted.add(offer_id)
            try:
                frame = json.loads(ws.recv(timeout=0.1))
            except TimeoutError:
                continue
            kind = frame.get("type")
            if kind == "offer":
                self.offer_seen.setdefault(frame["offer_id"], time.time())
            if kind == "offer" and frame["offer_id"] not in answered_here:
                due.setdefault(frame["offer_id"], now + random.uniform(*self.think_seconds))
            elif kind == "assigned":
                with self.lock:
                    self.assigned.add(frame["ticket_id"])
            elif kind == "reconnect":
                with self.lock:
                    self.reconnect_frames += 1
            elif kind == "error":
                with self.lock:
                    self.errors.append(frame)
