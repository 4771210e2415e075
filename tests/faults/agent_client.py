"""An agent's browser tab as the console runs it: a websocket that reconnects when it drops (to the
next server in its list, as a load balancer would) and accepts every offer it is sent."""

import json
import threading

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect


class AcceptingAgentClient:
    def __init__(self, urls: list[str], token: str):
        self.urls = urls
        self.token = token
        self.connections = 0
        self.assigned: list[str] = []
        self.errors: list[dict] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.ws = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "AcceptingAgentClient":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.ws is not None:
            self.ws.close()
        self.thread.join(timeout=15)

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    def assigned_tickets(self) -> list[str]:
        with self.lock:
            return list(self.assigned)

    def _run(self) -> None:
        attempt = 0
        while not self.stopped.is_set():
            url = self.urls[attempt % len(self.urls)]
            attempt += 1
            try:
                with connect(url, additional_headers={"Authorization": f"Bearer {self.token}"}, open_timeout=5) as ws:
                    self.ws = ws
                    self._session(ws)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidStatus):
                pass  # the server or Redis is away: try again shortly, like the console's backoff
            self.stopped.wait(0.5)

    def _session(self, ws) -> None:
        first = json.loads(ws.recv(timeout=10))
        if first.get("type") != "state":
            return
        with self.lock:
            self.connections += 1
        if self.connections == 1:
            ws.send(json.dumps({"type": "presence", "status": "online"}))
        while not self.stopped.is_set():
            try:
                frame = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            if frame["type"] == "offer":
                ws.send(json.dumps({"type": "accept", "offer_id": frame["offer_id"]}))
            elif frame["type"] == "assigned":
                with self.lock:
                    self.assigned.append(frame["ticket_id"])
            elif frame["type"] == "error":
                with self.lock:
                    self.errors.append(frame)
