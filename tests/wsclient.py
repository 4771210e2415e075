"""A real websocket client for tests: one agent's browser tab, speaking the contract's frames."""

import json
import time

from websockets.sync.client import connect

from agents.services import person_token_issue


class AgentSocket:
    def __init__(self, url: str, agent=None, token: str | None = None, presence: str | None = "online"):
        self.agent = agent
        token = token or person_token_issue(user=agent.user)
        self.ws = connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=15)
        self.received: list[dict] = []
        self.state = self.expect("state")
        if presence:
            self.send(type="presence", status=presence)

    def send(self, **frame) -> None:
        self.ws.send(json.dumps(frame))

    def next_frame(self, timeout: float) -> dict | None:
        try:
            frame = json.loads(self.ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        self.received.append(frame)
        return frame

    def expect(self, frame_type: str, timeout: float = 15, **match) -> dict:
        """The next frame of `frame_type` (and matching `match`), skipping others; fails on timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = self.next_frame(left)
            if frame and frame.get("type") == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return frame
        raise AssertionError(f"no {frame_type} frame {match or ''} within {timeout}s; got {self.received[-8:]}")

    def expect_nothing(self, frame_type: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            frame = self.next_frame(left)
            assert not frame or frame.get("type") != frame_type, f"unexpected {frame}"

    def close(self) -> None:
        self.ws.close()
