"""Dispatch end to end: real uvicorn servers, a real Celery worker and beat, real websocket clients."""

import threading
import time

import httpx
import pytest

from agents.models import Agent
from agents.services import person_token_issue
from dispatch.models import Offer, OfferStatus, SupervisorAlert
from dispatch.tasks import dispatch_ticket_task
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory
from tests.wsclient import AgentSocket
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def wait_until(condition, timeout: float = 15, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def online_sockets(live_stack, agents, index=0):
    sockets = [AgentSocket(live_stack.ws_url(index), agent) for agent in agents]
    wait_until(
        lambda: (
            Agent.objects.filter(pk__in=[a.pk for a in agents], presence="online", open_sockets__gt=0).count()
            == len(agents)
        )
    )
    return sockets


def new_ticket(**fields) -> Ticket:
    ticket = TicketFactory(**fields)
    dispatch_ticket_task.delay(str(ticket.pk))
    return ticket


def test_the_right_agent_is_offered_and_accepting_over_the_socket_assigns(live_stack):
    set_policy(offer_timeout_seconds=20)
    english = AgentFactory(languages=["en"], skills={"payments": 4})
    german = AgentFactory(languages=["de"], skills={"payments": 4})
    en_socket, de_socket = online_sockets(live_stack, [english, german])
    ticket = new_ticket(language="de", skills={"payments": 2})

    offer = de_socket.expect("offer")
    assert offer["ticket"]["id"] == str(ticket.pk)
    assert offer["ticket"]["language"] == "de"
    assert offer["pay_estimate"]["currency"] and offer["pay_estimate"]["amount"]
    assert offer["why"]
    de_socket.send(type="ack", offer_id=offer["offer_id"])
    de_socket.send(type="accept", offer_id=offer["offer_id"])
    assigned = de_socket.expect("assigned")
    assert assigned == {"type": "assigned", "offer_id": offer["offer_id"], "ticket_id": str(ticket.pk)}
    en_socket.expect_nothing("offer", 1)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == (TicketStatus.ASSIGNED, german.pk)
    assert Offer.objects.get(pk=offer["offer_id"]).delivered_at is not None


def test_decline_moves_the_ticket_to_the_next_agent(live_stack):
    set_policy(offer_timeout_seconds=20)
    agents = [AgentFactory(languages=["en"]) for _ in range(2)]
    sockets = online_sockets(live_stack, agents)
    ticket = new_ticket(language="en")
    frames = wait_until(lambda: [(s, f) for s in sockets if (f := s.next_frame(0.2)) and f["type"] == "offer"])
    first_socket, first_offer = frames[0]
    first_socket.send(type="decline", offer_id=first_offer["offer_id"], reason="busy")
    other = next(s for s in sockets if s is not first_socket)
    second_offer = other.expect("offer")
    assert second_offer["ticket"]["id"] == str(ticket.pk)
    assert Offer.objects.get(pk=first_offer["offer_id"]).decline_reason == "busy"


def test_an_unanswered_offer_expires_moves_on_and_a_late_accept_is_refused(live_stack):
    set_policy(offer_timeout_seconds=3)
    agents = [AgentFactory(languages=["sv"]) for _ in range(2)]
    sockets = online_sockets(live_stack, agents)
    ticket = new_ticket(language="sv")
    holder, offer = wait_until(lambda: [(s, f) for s in sockets if (f := s.next_frame(0.2)) and f["type"] == "offer"])[
        0
    ]
    holder.send(type="ack", offer_id=offer["offer_id"])
    withdrawn = holder.expect("offer_withdrawn", timeout=10)
    assert withdrawn == {"type": "offer_withdrawn", "offer_id": offer["offer_id"], "reason": "expired"}
    other = next(s for s in sockets if s is not holder)
    assert other.expect("offer", timeout=10)["ticket"]["id"] == str(ticket.pk)
    holder.send(type="accept", offer_id=offer["offer_id"])
    error = holder.expect("error")
    assert error["code"] == "offer_unavailable"
    late = httpx.post(
        f"{live_stack.base_url}/api/v1/offers/{offer['offer_id']}/accept/",
        headers={"Authorization": f"Bearer {person_token_issue(user=holder.agent.user)}"},
    )
    assert late.status_code == 409
    assert late.json()["code"] == "offer_unavailable"


def test_a_pending_offer_comes_back_after_a_reconnect_with_its_remaining_time(live_stack):
    set_policy(offer_timeout_seconds=30)
    agent = AgentFactory(languages=["en"])
    [socket] = online_sockets(live_stack, [agent])
    new_ticket(language="en")
    offer = socket.expect("offer")
    socket.close()
    time.sleep(1.5)
    again = AgentSocket(live_stack.ws_url(), agent, presence=None)
    resent = again.expect("offer")
    assert resent["offer_id"] == offer["offer_id"]
    assert resent["remaining_seconds"] < offer["remaining_seconds"]
    assert again.state["presence"] == "online"


def test_escalation_steps_fire_on_time(live_stack):
    set_policy(
        offer_timeout_seconds=3,
        escalation_steps=[
            {"after_seconds": 5, "action": "relax_skill_level", "value": 1},
            {"after_seconds": 6, "action": "alert_supervisors", "value": None},
        ],
    )
    senior = AgentFactory(languages=["en"], skills={"fraud": 3})
    junior = AgentFactory(languages=["en"], skills={"fraud": 2})
    senior_socket, junior_socket = online_sockets(live_stack, [senior, junior])
    started = time.monotonic()
    ticket = new_ticket(language="en", skills={"fraud": 3})

    senior_socket.expect("offer")  # never acknowledged, so its expiry is not held against the senior
    junior_offer = junior_socket.expect("offer", timeout=20)
    waited = time.monotonic() - started
    assert waited >= 5, f"the junior was offered after {waited:.1f}s, before the relax step was due"
    assert Offer.objects.get(pk=junior_offer["offer_id"]).decision["stage"]["skill_relaxation"] == 1
    alert = wait_until(lambda: SupervisorAlert.objects.filter(ticket=ticket, kind="ticket_waiting").first(), 15)
    assert (alert.raised_at - ticket.queued_at).total_seconds() >= 6


def test_fifty_agents_racing_to_accept_one_broadcast_offer_leave_exactly_one_holder(live_stack):
    set_policy(offer_timeout_seconds=30, offer_fanout=50)
    agents = [AgentFactory(languages=["en"]) for _ in range(50)]
    sockets = online_sockets(live_stack, agents)
    ticket = new_ticket(language="en")
    offers = [socket.expect("offer", timeout=30) for socket in sockets]
    assert len({o["offer_id"] for o in offers}) == 50
    start = threading.Barrier(50)
    outcomes: list[str] = []

    def race(socket, offer):
        start.wait()
        socket.send(type="accept", offer_id=offer["offer_id"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            frame = socket.next_frame(deadline - time.monotonic())
            if frame and frame["type"] in ("assigned", "error"):
                outcomes.append(frame["type"])
                return

    threads = [threading.Thread(target=race, args=pair) for pair in zip(sockets, offers, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["assigned"] + ["error"] * 49
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ASSIGNED
    assert Offer.objects.filter(ticket=ticket, status=OfferStatus.ACCEPTED).count() == 1
    assert sum(Agent.objects.filter(pk__in=[a.pk for a in agents]).values_list("active_tickets", flat=True)) == 1


def test_an_offer_crosses_from_one_asgi_process_to_another(live_stack):
    set_policy(offer_timeout_seconds=20)
    if len(live_stack.web) < 2:
        live_stack.add_web()
    agent = AgentFactory(languages=["en"])
    [socket] = online_sockets(live_stack, [agent], index=1)
    ticket = new_ticket(language="en")
    offer = socket.expect("offer")
    # Accept through the *other* server's REST API: the answer reaches the socket on this one.
    response = httpx.post(
        f"{live_stack.web_url(0)}/api/v1/offers/{offer['offer_id']}/accept/",
        headers={"Authorization": f"Bearer {person_token_issue(user=agent.user)}"},
    )
    assert response.status_code == 200
    assert socket.expect("assigned")["ticket_id"] == str(ticket.pk)


def test_a_worker_killed_with_offers_pending_loses_nothing(live_stack):
    set_policy(offer_timeout_seconds=3)
    agents = [AgentFactory(languages=["de"]) for _ in range(3)]
    sockets = online_sockets(live_stack, agents)
    tickets = [new_ticket(language="de") for _ in range(3)]
    for socket in sockets:
        socket.expect("offer")
    # The expiry tasks for these offers are waiting inside this worker: kill it without warning.
    live_stack.worker.kill()
    time.sleep(4)  # every offer is now past its expiry, and no worker runs
    assert Offer.objects.filter(ticket__in=tickets, status=OfferStatus.PENDING).count() == 3
    live_stack.start_worker()
    # The sweep (beat) expires them and the tickets are offered again; nothing stays pending past expiry.
    wait_until(
        lambda: (
            not Offer.objects.filter(
                ticket__in=tickets, status=OfferStatus.PENDING, expires_at__lt=_now_minus(5)
            ).exists()
        ),
        20,
    )
    wait_until(lambda: Offer.objects.filter(ticket__in=tickets, status=OfferStatus.EXPIRED).count() >= 3, 20)
    for socket in sockets:
        socket.expect("offer", timeout=20)
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], status__in=["offered", "queued"]).count() == 3


def _now_minus(seconds):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(seconds=seconds)


def test_bad_frames_get_an_error_frame_and_change_nothing(live_stack):
    set_policy(offer_timeout_seconds=20)
    agent, other = AgentFactory(languages=["en"]), AgentFactory(languages=["de"])
    socket, other_socket = online_sockets(live_stack, [agent, other])
    ticket = new_ticket(language="de")
    others_offer = other_socket.expect("offer")

    socket.ws.send("this is not json")
    assert socket.expect("error")["code"] == "malformed"
    socket.send(type="teleport")
    assert socket.expect("error")["code"] == "unknown_type"
    socket.send(type="accept")
    assert socket.expect("error")["code"] == "malformed"
    socket.send(type="accept", offer_id="not-a-uuid")
    assert socket.expect("error")["code"] == "offer_unavailable"
    socket.send(type="accept", offer_id=others_offer["offer_id"])  # another agent's offer
    assert socket.expect("error")["code"] == "offer_unavailable"
    socket.send(type="presence", status="dancing")
    assert socket.expect("error")["code"] == "invalid"

    socket.send(type="ping")
    assert socket.expect("pong") == {"type": "pong"}  # the connection stayed open
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OFFERED
    assert Offer.objects.get(pk=others_offer["offer_id"]).status == OfferStatus.PENDING

    other_socket.send(type="accept", offer_id=others_offer["offer_id"])
    other_socket.expect("assigned")
    other_socket.send(type="accept", offer_id=others_offer["offer_id"])  # accepting twice
    assert other_socket.expect("error")["code"] == "offer_unavailable"
    other.refresh_from_db()
    assert other.active_tickets == 1
