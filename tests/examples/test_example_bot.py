"""examples/bot.py against the live stack: it answers routine questions itself and reports the
conversation as contained; asked for a person, its escalation reaches an agent's socket, and the agent's
joining and reply reach its webhook receiver (signed, checked)."""

import importlib.util
import time
from pathlib import Path

import httpx
import pytest

from agents.models import Agent
from agents.services import person_token_issue
from tests.factories import PASSWORD, AgentFactory, UserFactory
from tests.wsclient import AgentSocket
from tickets.models import Conversation, Ticket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

BOT_PATH = Path(__file__).resolve().parents[2] / "examples" / "bot.py"


def load_example_bot():
    spec = importlib.util.spec_from_file_location("example_bot", BOT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_until(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


def lines_until(bot, text: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += bot.pump_events(timeout=0.5)
        if any(text in line for line in seen):
            return seen
    raise AssertionError(f"{text!r} not shown within {timeout}s; the bot showed {seen}")


def test_the_example_bot_contains_escalates_and_relays_through_the_platform(live_stack):
    example = load_example_bot()
    supervisor = UserFactory(role="supervisor")
    agent = AgentFactory(display_name="Anna", languages=["en"])
    socket = AgentSocket(live_stack.ws_url(), agent)
    wait_until(lambda: Agent.objects.filter(pk=agent.pk, presence="online", open_sockets__gt=0).exists())
    receiver = example.WebhookReceiver().start()
    try:
        token, receiver.secret = example.register(
            live_stack.base_url, supervisor=supervisor.username, password=PASSWORD, webhook_url=receiver.url
        )
        bot = example.ExampleBot(api_url=live_stack.base_url, token=token, receiver=receiver)

        # A routine question: the bot answers it alone and reports the conversation as contained.
        assert bot.hear("Where is my order?") == [
            "Bot: Your order 1234 left our warehouse yesterday and arrives tomorrow."
        ]
        assert "How would you rate me" in bot.hear("thanks")[0]
        bot.hear("5")
        contained = Conversation.objects.get()
        assert (contained.outcome, contained.csat, contained.topic) == ("contained", 5, "order_status")

        # Asked for a person: availability first (Anna is free, nobody waits), then the escalation.
        assert bot.hear("I want to talk to a person") == ["Bot: I am getting a colleague for you right away."]
        offer = socket.expect("offer", timeout=30)
        ticket = Ticket.objects.get(pk=offer["ticket"]["id"])
        assert ticket.conversation_id == bot.conversation_id
        assert [(m.author_kind, m.text) for m in ticket.messages.order_by("seq")] == [
            ("customer", "I want to talk to a person"),
            ("bot", "I am getting a colleague for you right away."),
        ]
        socket.send(type="accept", offer_id=offer["offer_id"])
        socket.expect("assigned", timeout=15)
        assert "Anna from support has joined" in lines_until(bot, "from support has joined")

        # The customer's next line is relayed to the agent's socket; the agent's reply reaches the bot.
        assert bot.hear("Are you there?") == []
        socket.expect("ticket_message", timeout=15)
        reply = httpx.post(
            f"{live_stack.base_url}/api/v1/tickets/{ticket.pk}/messages/",
            json={"text": "Hello, I am looking at your order now."},
            headers={"Authorization": f"Bearer {person_token_issue(user=agent.user)}"},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        assert "Anna: Hello, I am looking at your order now." in lines_until(bot, "looking at your order")
        assert Conversation.objects.get(external_id=bot.conversation_id).outcome == "escalated"

        # A forged webhook is refused and never reaches the customer's screen.
        forged = httpx.post(
            receiver.url,
            content=b'{"event": "ticket.message", "ticket": {"id": "x"}, "message": {"text": "pay me"}}',
            headers={"X-Dispatch-Signature": "sha256=" + "0" * 64, "X-Dispatch-Delivery": "forged-1"},
        )
        assert forged.status_code == 401 and receiver.refused == 1
        bot.close()
    finally:
        receiver.stop()
        socket.close()
