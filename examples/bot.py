"""An example bot platform for the dispatch platform: a customer on the terminal, a bot that answers the
routine questions itself and hands the rest to a person.

    make run                                    # terminal 1: the platform with its demo data
    .venv/bin/python examples/bot.py            # terminal 2: you are the customer

What it shows (CONTRACT.md "Escalation intake", "Webhooks", "The hybrid loop"):
- it registers itself as an integration (with the demo supervisor's sign-in), so it knows its token and
  its webhook secret, and receives webhooks on a small HTTP server of its own (--listen);
- it answers a few routine questions (opening hours, order status, refunds, passwords) and reports each
  finished conversation as contained (POST /api/v1/conversations/, with the customer's rating);
- asked for a person, or when the customer is upset, it asks who is there (GET /api/v1/availability/),
  tells the customer what to expect, and escalates with the transcript and a hand-off
  (POST /api/v1/tickets/, linked to the conversation by conversation_id);
- while a person serves the customer it relays what the customer types (POST .../messages/), verifies
  every webhook's signature (X-Dispatch-Signature, HMAC-SHA256 of the body with the secret), ignores
  redeliveries (X-Dispatch-Delivery), prints "Anna from support has joined" and the agent's replies;
- when the agent hands the conversation back, the bot takes over again; asked for a person once more, it
  escalates again in the same conversation, and the platform offers it first to the agent who had it.

Only the project's dependencies (httpx) and the standard library. Type "quit" to leave.
"""

import argparse
import hashlib
import hmac
import json
import os
import queue
import re
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

ROUTINE_ANSWERS = [
    (
        ("opening hours", "open", "when are you"),
        "opening_hours",
        "We are there for you Monday to Saturday, 8:00-20:00.",
    ),
    (
        ("where is my order", "order status", "tracking", "delivery"),
        "order_status",
        "Your order 1234 left our warehouse yesterday and arrives tomorrow.",
    ),
    (
        ("refund policy", "return", "money back"),
        "refund_policy",
        "You can return anything within 30 days for a refund.",
    ),
    (("password", "log in", "login"), "login", "I sent you a link to reset your password; it works for one hour."),
]
PERSON_WORDS = ("person", "human", "agent", "someone real", "mensch", "människa")
UPSET_WORDS = ("angry", "ridiculous", "terrible", "unacceptable", "furious", "useless", "worst")
GOODBYE_WORDS = ("bye", "thanks", "thank you", "that's all", "done")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def signature_valid(body: bytes, header: str, secret: str) -> bool:
    """X-Dispatch-Signature is "sha256=<hex HMAC-SHA256 of the raw body with the webhook secret>"."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


class WebhookReceiver:
    """The bot platform's webhook endpoint: checks each delivery's signature, drops redeliveries of one it
    already has, and hands the events to the bot (a queue, read by ExampleBot.pump_events)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.secret = ""
        self.events: queue.Queue = queue.Queue()
        self.seen: set[str] = set()
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not signature_valid(body, self.headers.get("X-Dispatch-Signature", ""), receiver.secret):
                    receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                delivery = self.headers.get("X-Dispatch-Delivery", "")
                self.send_response(204)
                self.end_headers()
                if delivery in receiver.seen:
                    return  # a retry of one we already have: answered 2xx, not acted on twice
                receiver.seen.add(delivery)
                receiver.events.put(json.loads(body))

            def log_message(self, *args):  # keep the customer's terminal clean
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/webhooks"

    def start(self) -> "WebhookReceiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ExampleBot:
    """One customer at a time. `hear` takes what the customer typed and returns what the bot says; what
    comes from the platform meanwhile (a person joined, their replies) is read by `pump_events`."""

    def __init__(self, *, api_url: str, token: str, receiver: WebhookReceiver, language: str = "en", say=print):
        self.http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=15)
        self.receiver = receiver
        self.language = language
        self.say = say
        self.customer_ref = f"customer-{uuid.uuid4().hex[:8]}"
        self.agent_name: str | None = None
        self.ticket_id: str | None = None
        self.escalations = 0
        self.awaiting_rating: str | None = None  # "bot" or a ticket id the customer is asked to rate
        self.new_conversation()

    # --------------------------------------------------------------- the conversation

    def new_conversation(self) -> None:
        self.conversation_id = f"example-{uuid.uuid4().hex[:12]}"
        self.started_at = now_iso()
        self.transcript: list[dict] = []
        self.topic = ""
        self.attempted: list[str] = []

    def note(self, role: str, text: str) -> None:
        self.transcript.append({"role": role, "text": text, "at": now_iso()})

    def bot_says(self, text: str) -> list[str]:
        self.note("bot", text)
        return [f"Bot: {text}"]

    def hear(self, text: str) -> list[str]:
        """What the customer typed; returns what the bot answers (nothing while a person serves them)."""
        text = text.strip()
        if not text:
            return []
        if self.awaiting_rating is not None:
            return self.rated(text)
        if self.ticket_id is not None:  # a person is on it: relay, say nothing
            response = self.http.post(f"/api/v1/tickets/{self.ticket_id}/messages/", json={"text": text})
            if response.status_code != 201:
                return [f"(could not relay your message: {response.status_code} {response.text})"]
            return []
        self.note("customer", text)
        lowered = text.lower()
        if any(word in lowered for word in PERSON_WORDS):
            return self.escalate(reason="customer_request", sentiment=-0.2)
        if self.upset(text):
            return self.escalate(reason="negative_sentiment", sentiment=-0.8)
        if any(word in lowered for word in GOODBYE_WORDS) and self.transcript[:-1]:
            self.awaiting_rating = "bot"
            return self.bot_says("Glad I could help! How would you rate me, from 1 (bad) to 5 (great)?")
        for keywords, topic, answer in ROUTINE_ANSWERS:
            if any(word in lowered for word in keywords):
                self.topic = self.topic or topic
                self.attempted.append(f"kb:{topic}")
                return self.bot_says(answer)
        self.attempted.append("kb:search")
        return self.bot_says(
            "I can help with opening hours, orders, refunds and passwords. For anything else, ask for a person."
        )

    @staticmethod
    def upset(text: str) -> bool:
        letters = [c for c in text if c.isalpha()]
        shouting = len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7
        return shouting or "!!" in text or any(word in text.lower() for word in UPSET_WORDS)

    def rated(self, text: str) -> list[str]:
        match = re.search(r"[1-5]", text)
        subject, self.awaiting_rating = self.awaiting_rating, None
        score = int(match.group()) if match else None
        if subject == "bot":
            self.report(outcome="contained", csat=score)
            self.new_conversation()
            return ["Bot: Thank you! Anything else? (a new conversation starts)"]
        if score is not None:
            self.http.post(f"/api/v1/tickets/{subject}/csat/", json={"score": score})
        self.report(outcome="escalated", csat=None, ended=True)
        self.new_conversation()
        return ["Bot: Thank you for your rating. Anything else? (a new conversation starts)"]

    def report(self, *, outcome: str, csat: int | None = None, ended: bool = True) -> None:
        """The conversation as the bot platform reports it: again with the same id updates it."""
        body = {
            "external_id": self.conversation_id,
            "language": self.language,
            "outcome": outcome,
            "topic": self.topic or "other",
            "csat": csat,
            "started_at": self.started_at,
            "ended_at": now_iso() if ended else None,
            "customer_ref": self.customer_ref,
        }
        response = self.http.post("/api/v1/conversations/", json=body)
        if response.status_code not in (200, 201):
            self.say(f"(could not report the conversation: {response.status_code} {response.text})")

    # --------------------------------------------------------------- handing over

    def availability(self) -> dict:
        response = self.http.get("/api/v1/availability/", params={"language": self.language})
        response.raise_for_status()
        return response.json()

    def escalate(self, *, reason: str, sentiment: float) -> list[str]:
        lines = []
        available = self.availability()
        if not available["open"]:
            lines += self.bot_says(
                "Nobody from our team is online right now. I have kept your place: a colleague will write to you "
                "as soon as someone is back."
            )
        elif available["estimated_wait_seconds"]:
            minutes = max(1, round(available["estimated_wait_seconds"] / 60))
            lines += self.bot_says(f"I am getting a colleague for you; it should take about {minutes} min.")
        else:
            lines += self.bot_says("I am getting a colleague for you right away.")
        self.topic = self.topic or "other"
        self.report(outcome="escalated", ended=False)
        self.escalations += 1
        body = {
            "external_id": f"{self.conversation_id}-{self.escalations}",
            "conversation_id": self.conversation_id,
            "topic": self.topic,
            "customer": {"ref": self.customer_ref, "display_name": "Terminal customer", "tier": "standard"},
            "language": self.language,
            "skills": [],
            "reason": reason,
            "sentiment": sentiment,
            "summary": next((e["text"] for e in reversed(self.transcript) if e["role"] == "customer"), "")[:4000],
            "handoff": {
                "bot_confidence": 0.3,
                "attempted": self.attempted[-50:],
                "verified_facts": {"customer_ref": self.customer_ref},
                "suggested_next_step": "Read the transcript; the customer asked for a person."
                if reason == "customer_request"
                else "The customer is upset: acknowledge it first.",
            },
            "transcript": self.transcript[-200:],
        }
        response = self.http.post("/api/v1/tickets/", json=body)
        if response.status_code not in (200, 201):
            return lines + [f"(the escalation was refused: {response.status_code} {response.text})"]
        self.ticket_id = response.json()["id"]
        return lines

    # --------------------------------------------------------------- what the platform tells us

    def pump_events(self, timeout: float = 0.0) -> list[str]:
        """Everything the webhooks brought since the last call, as lines for the customer's screen."""
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.receiver.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return lines
            lines += self.on_event(event)
            deadline = time.monotonic()  # after the first, take only what is already there

    def on_event(self, event: dict) -> list[str]:
        ticket = event.get("ticket") or {}
        if ticket.get("id") != self.ticket_id:
            return []  # an earlier conversation's late event
        kind = event.get("event")
        if kind == "ticket.assigned":
            self.agent_name = (event.get("agent") or ticket.get("agent") or {}).get("display_name") or "A colleague"
            return [f"{self.agent_name} from support has joined"]
        if kind == "ticket.message":
            return [f"{self.agent_name or 'Support'}: {event['message']['text']}"]
        if kind == "ticket.resolved":
            rated, self.ticket_id = self.ticket_id, None
            self.awaiting_rating = rated
            return [f"{self.agent_name or 'Support'} has left the chat. How would you rate their help, 1 to 5?"]
        if kind == "ticket.handed_back":
            self.ticket_id = None
            return self.bot_says("I am back. Is there anything else I can do? (ask for a person again any time)")
        return []

    def close(self) -> None:
        self.http.close()


def register(api_url: str, *, supervisor: str, password: str, webhook_url: str) -> tuple[str, str]:
    """A new integration for this run: (token, webhook secret). Signs in as the supervisor who may create it."""
    with httpx.Client(base_url=api_url, timeout=15) as http:
        signed_in = http.post("/api/v1/auth/token/", json={"username": supervisor, "password": password})
        if signed_in.status_code != 200:
            sys.exit(f"Could not sign in as {supervisor}: {signed_in.status_code} {signed_in.text} (seed_demo run?)")
        created = http.post(
            "/api/v1/integrations/",
            json={"name": f"example-bot-{uuid.uuid4().hex[:8]}", "webhook_url": webhook_url},
            headers={"Authorization": f"Bearer {signed_in.json()['token']}"},
        )
        if created.status_code != 201:
            sys.exit(f"Could not register the bot: {created.status_code} {created.text}")
        return created.json()["token"], created.json()["webhook_secret"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("DISPATCH_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--listen", default="127.0.0.1:8765", help="host:port of the webhook receiver")
    parser.add_argument("--language", default="en", choices=["en", "de", "sv"])
    parser.add_argument("--supervisor", default="supervisor", help="who registers the bot (demo data)")
    parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "demo"))
    args = parser.parse_args()

    host, _, port = args.listen.rpartition(":")
    receiver = WebhookReceiver(host or "127.0.0.1", int(port)).start()
    token, receiver.secret = register(
        args.url, supervisor=args.supervisor, password=args.password, webhook_url=receiver.url
    )
    bot = ExampleBot(api_url=args.url, token=token, receiver=receiver, language=args.language)
    print(f"Example bot on {args.url}, webhooks at {receiver.url}. You are the customer; type 'quit' to leave.")
    print("Try: 'where is my order?', 'thanks' (the bot contained it), or 'I want to talk to a person'.")

    # The platform's events are printed as they arrive, also while the customer is typing.
    def show_events():
        while True:
            for line in bot.pump_events(timeout=0.5):
                print(f"\n{line}\nYou: ", end="", flush=True)

    threading.Thread(target=show_events, daemon=True).start()
    try:
        while True:
            try:
                text = input("You: ")
            except EOFError:
                break
            if text.strip().lower() in ("quit", "exit"):
                break
            for line in bot.hear(text):
                print(line)
    except KeyboardInterrupt:
        pass
    finally:
        if bot.ticket_id is not None:
            bot.http.post(f"/api/v1/tickets/{bot.ticket_id}/cancel/")
        bot.close()
        receiver.stop()


if __name__ == "__main__":
    main()
