"""A real HTTP receiver for webhook tests: a threading http.server on 127.0.0.1 and a free port."""

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def signature_is_valid(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("X-Dispatch-Signature", ""))


@dataclass
class Receiver:
    """Answers 500 to the first `fail_first` requests, then 200; dedupes on X-Dispatch-Delivery like a
    well-behaved receiver, keeping every request in `requests` and the accepted ones in `accepted`."""

    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                item = Received(headers=dict(self.headers.items()), body=body)
                with receiver.lock:
                    receiver.requests.append(item)
                    ok = len(receiver.requests) > receiver.fail_first
                    seen = {r.headers["X-Dispatch-Delivery"] for r in receiver.accepted}
                    if ok and item.headers["X-Dispatch-Delivery"] not in seen:
                        receiver.accepted.append(item)
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args):
                return  # keep the test output free of one access-log line per request

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
