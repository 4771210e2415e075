"""The bot platform's webhook receiver: checks `X-Dispatch-Signature`, dedupes on `X-Dispatch-Delivery`.

A threaded http.server in a thread of its own, so a simulator busy with thousands of sockets still
answers the platform's worker promptly (a slow answer would hold a worker process and be retried).
"""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tools.loadsim.stats import SimStats


def signature_valid(*, body: bytes, secret: str, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


class WebhookReceiver:
    """Listens on 127.0.0.1:`port` (0: any free port) and counts into `stats`, which may be replaced
    between benchmark windows."""

    def __init__(self, *, stats: SimStats, secret: str = "", host: str = "127.0.0.1", port: int = 0):
        self.stats = stats
        self.secret = secret
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = signature_valid(
                    body=body, secret=receiver.secret, header=self.headers.get("X-Dispatch-Signature", "")
                )
                event = self.headers.get("X-Dispatch-Event", "")
                external_id = ""
                if ok:
                    try:
                        payload = json.loads(body)
                        ok = payload.get("event") == event
                        external_id = payload.get("ticket", {}).get("external_id", "")
                    except (ValueError, AttributeError):
                        ok = False
                receiver.stats.webhook_received(
                    delivery_id=self.headers.get("X-Dispatch-Delivery", ""),
                    event=event,
                    external_id=external_id,
                    signature_ok=ok,
                )
                # A forged or garbled delivery is refused; a duplicate is acknowledged again.
                self.send_response(204 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # noqa: A002 - http.server's signature
                pass  # one line per delivery would drown the progress lines

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/webhooks/dispatch"

    def start(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
