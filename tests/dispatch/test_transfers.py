"""Warm transfers (CONTRACT.md "Transfer, notes, canned responses"): the API, each refusal, timeouts,
pay for each part, the supervisor's timeline."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from dispatch import services
from dispatch.events import offer_frame
from dispatch.models import Offer, OfferStatus, Transfer, TransferStatus
from dispatch.transfers import transfers_sweep
from payouts.models import PayLine
from tests.conftest import client_with_token
from tests.factories import AgentFactory, TicketFactory, online, set_policy
from tickets.models import Assignment, Ticket, TicketStatus, WebhookDelivery

pytestmark = pytest.mark.django_db


def held_ticket(sender, **ticket_fields):
    """A ticket `sender` holds through a real offer and accept."""
    ticket = TicketFactory(**{"language": "en", **ticket_fields})
    [offer] = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer.agent_id == sender.pk
    services.offer_accept(offer_id=offer.pk, agent=sender)
    ticket.refresh_from_db()
    return ticket


@pytest.fixture
def sender(db):
    return online(AgentFactory(display_name="Sam Sender", languages=["en"], max_concurrent=2))


def transfer(client, ticket, body):
    return client.post(f"/api/v1/tickets/{ticket.pk}/transfer/", body, format="json")


def test_transfer_to_a_pool_is_offered_with_who_and_why_and_moves_on_accept(sender, supervisor_client):
    ticket = held_ticket(sender)
    receiver = online(AgentFactory(display_name="Sofia S.", languages=["en", "sv"], skills={"fraud": 2}))
    online(AgentFactory(languages=["sv"]))  # speaks Swedish but lacks the skill: not in the pool
    sender_client = client_with_token(sender.user)

    response = transfer(sender_client, ticket, {"to": {"skills": ["fraud"], "language": "sv"}, "note": "Fraud, Swede"})

    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending"
    assert response.json()["to"] == {"skills": ["fraud"], "language": "sv"}
    [offer] = Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING)
    assert offer.agent_id == receiver.pk
    frame = offer_frame(offer)
    assert frame["ticket"]["transfer"] == {"from": "Sam Sender", "note": "Fraud, Swede"}
    assert "Sam Sender passes this customer on to you." in frame["why"]
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == (TicketStatus.ASSIGNED, sender.pk)  # keeps it until accepted

    accepted = client_with_token(receiver.user).post(f"/api/v1/offers/{offer.pk}/accept/")

    assert accepted.status_code == 200, accepted.json()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == (TicketStatus.ASSIGNED, receiver.pk)
    assert ticket.priority == 1 and ticket.queued_at == Ticket.objects.get(pk=ticket.pk).queued_at
    sender.refresh_from_db()
    receiver.refresh_from_db()
    assert (sender.active_tickets, receiver.active_tickets) == (0, 1)
    assert Assignment.objects.get(ticket=ticket, agent=sender).end_reason == "transferred"
    assert Transfer.objects.get(ticket=ticket).status == TransferStatus.ACCEPTED
    [part] = PayLine.objects.filter(agent=sender, kind="transfer_part")
    assert "Each agent is paid for their own engaged time" in part.explanation
    assert part.currency and part.amount >= 0
    # The sender can read their earnings line, the receiver now reads the ticket.
    assert client_with_token(receiver.user).get(f"/api/v1/tickets/{ticket.pk}/").status_code == 200
    assert sender_client.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 404

    timeline = supervisor_client.get(f"/api/v1/supervisor/tickets/{ticket.pk}/timeline/").json()
    kinds = [event["kind"] for event in timeline["events"]]
    assert "ticket.transfer_requested" in kinds and "ticket.transfer_accepted" in kinds
    requested = next(e for e in timeline["events"] if e["kind"] == "ticket.transfer_requested")
    assert "Fraud, Swede" in requested["text"]


def test_the_note_never_reaches_the_bot_platform(sender):
    ticket = held_ticket(sender)
    receiver = online(AgentFactory(languages=["en"]))
    transfer(client_with_token(sender.user), ticket, {"to": {"agent_id": str(receiver.pk)}, "note": "SECRET-NOTE-42"})
    offer = Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING)
    services.offer_accept(offer_id=offer.pk, agent=receiver)
    bodies = list(WebhookDelivery.objects.filter(ticket=ticket).values_list("body", flat=True))
    assert len(bodies) == 2  # assigned to the sender, then to the receiver (a new human joined)
    assert all("SECRET-NOTE-42" not in body for body in bodies)


def test_a_named_agent_declining_ends_the_transfer_and_the_sender_keeps_it(sender):
    ticket = held_ticket(sender)
    receiver = online(AgentFactory(display_name="Mia", languages=["en"]))
    assert transfer(client_with_token(sender.user), ticket, {"to": {"agent_id": str(receiver.pk)}}).status_code == 202
    offer = Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING, agent=receiver)
    assert offer.expires_at == Transfer.objects.get(ticket=ticket).expires_at  # the whole transfer timeout

    services.offer_decline(offer_id=offer.pk, agent=receiver)

    done = Transfer.objects.get(ticket=ticket)
    assert done.status == TransferStatus.DECLINED
    assert done.end_reason == "Mia declined the transfer, so you keep the customer."
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == (TicketStatus.ASSIGNED, sender.pk)
    receiver.refresh_from_db()
    assert not receiver.has_pending_offer and receiver.active_tickets == 0


def test_a_pool_asks_the_next_agent_when_one_declines(sender):
    ticket = held_ticket(sender)
    first = online(AgentFactory(languages=["en"]))
    second = online(AgentFactory(languages=["en"]))
    transfer(client_with_token(sender.user), ticket, {"to": {"language": "en"}})
    offer = Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING)
    services.offer_decline(offer_id=offer.pk, agent=offer.agent)
    [following] = Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING)
    assert following.agent_id in {first.pk, second.pk} - {offer.agent_id}
    assert Transfer.objects.get(ticket=ticket).status == TransferStatus.PENDING


def test_nobody_accepting_within_the_timeout_leaves_the_ticket_with_the_sender(sender):
    set_policy(transfer_timeout_seconds=30)
    ticket = held_ticket(sender)
    busy = online(AgentFactory(languages=["de"]))
    Agent.objects.filter(pk=busy.pk).update(has_pending_offer=True)  # in the pool, but answering another offer
    response = transfer(client_with_token(sender.user), ticket, {"to": {"language": "de"}, "note": "German speaker"})
    assert response.status_code == 202, response.json()
    assert not Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).exists()  # nobody free yet

    assert transfers_sweep(now=timezone.now() + timedelta(seconds=10))["transfers_expired"] == 0
    result = transfers_sweep(now=timezone.now() + timedelta(seconds=31))

    assert result["transfers_expired"] == 1
    done = Transfer.objects.get(ticket=ticket)
    assert done.status == TransferStatus.EXPIRED
    assert done.end_reason == "Nobody accepted your transfer within 30 s, so you keep the customer."
    ticket.refresh_from_db()
    assert ticket.assigned_agent_id == sender.pk


def test_the_sweep_offers_a_waiting_pool_transfer_once_someone_is_free(sender):
    ticket = held_ticket(sender)
    later = AgentFactory(languages=["sv"])  # offline when the transfer is asked for
    transfer(client_with_token(sender.user), ticket, {"to": {"language": "sv"}})
    assert not Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).exists()
    online(later)
    assert transfers_sweep()["transfers_offered"] == 1
    assert Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING).agent_id == later.pk


def test_withdraw_takes_the_offer_back_and_a_second_withdraw_is_404(sender):
    ticket = held_ticket(sender)
    receiver = online(AgentFactory(languages=["en"]))
    client = client_with_token(sender.user)
    transfer(client, ticket, {"to": {"agent_id": str(receiver.pk)}, "note": "n"})
    offer = Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING)

    response = client.delete(f"/api/v1/tickets/{ticket.pk}/transfer/")

    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    offer.refresh_from_db()
    assert (offer.status, offer.withdraw_reason) == (OfferStatus.WITHDRAWN, "cancelled")
    receiver.refresh_from_db()
    assert not receiver.has_pending_offer
    late = client_with_token(receiver.user).post(f"/api/v1/offers/{offer.pk}/accept/")
    assert late.status_code == 409
    again = client.delete(f"/api/v1/tickets/{ticket.pk}/transfer/")
    assert again.status_code == 404
    # A new transfer is possible again.
    assert transfer(client, ticket, {"to": {"agent_id": str(receiver.pk)}}).status_code == 202


def test_resolving_while_a_transfer_waits_ends_it(sender):
    ticket = held_ticket(sender)
    receiver = online(AgentFactory(languages=["en"]))
    client = client_with_token(sender.user)
    transfer(client, ticket, {"to": {"agent_id": str(receiver.pk)}})
    assert client.post(f"/api/v1/tickets/{ticket.pk}/resolve/", {"outcome": "solved"}, format="json").status_code == 200
    assert Transfer.objects.get(ticket=ticket).status == TransferStatus.CANCELLED
    assert Offer.objects.get(ticket=ticket, agent=receiver).status == OfferStatus.WITHDRAWN


# ---------------------------------------------------------------- refusals: 4xx naming what, nothing changed


def _nothing_changed(ticket, sender):
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_agent_id) == (TicketStatus.ASSIGNED, sender.pk)
    assert not Offer.objects.filter(ticket=ticket, transfer__isnull=False).exists()


def test_a_ticket_you_do_not_hold_is_404(sender):
    ticket = held_ticket(sender)
    other = online(AgentFactory(languages=["en"]))
    response = transfer(client_with_token(other.user), ticket, {"to": {"language": "en"}})
    assert response.status_code == 404
    assert not Transfer.objects.exists()
    _nothing_changed(ticket, sender)


def test_to_yourself_unknown_agent_unknown_skill_and_long_note_are_400(sender):
    ticket = held_ticket(sender)
    online(AgentFactory(languages=["en"]))
    client = client_with_token(sender.user)

    to_self = transfer(client, ticket, {"to": {"agent_id": str(sender.pk)}})
    assert to_self.status_code == 400 and "yourself" in str(to_self.json()["to"])
    unknown = transfer(client, ticket, {"to": {"agent_id": "00000000-0000-0000-0000-000000000001"}})
    assert unknown.status_code == 400 and "No such agent" in str(unknown.json()["to"])
    skill = transfer(client, ticket, {"to": {"skills": ["astrology"]}})
    assert skill.status_code == 400 and "astrology" in str(skill.json()["to"])
    long_note = transfer(client, ticket, {"to": {"language": "en"}, "note": "x" * 1001})
    assert long_note.status_code == 400 and "note" in long_note.json()
    neither = transfer(client, ticket, {"to": {}})
    assert neither.status_code == 400 and "to" in neither.json()
    assert not Transfer.objects.exists()
    _nothing_changed(ticket, sender)


def test_an_ineligible_agent_is_refused_with_the_reasons(sender):
    ticket = held_ticket(sender)
    offline = AgentFactory(display_name="Otto", languages=["de"])
    response = transfer(client_with_token(sender.user), ticket, {"to": {"agent_id": str(offline.pk)}})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "agent_ineligible"
    assert "Otto is not online" in body["message"] and "does not speak 'en'" in body["message"]
    assert not Transfer.objects.exists()
    _nothing_changed(ticket, sender)


def test_a_pool_nobody_could_ever_take_is_refused(sender):
    ticket = held_ticket(sender)
    AgentFactory(languages=["sv"], skills={"fraud": 1}, status=Agent.Status.SUSPENDED)
    response = transfer(client_with_token(sender.user), ticket, {"to": {"skills": ["fraud"], "language": "sv"}})
    assert response.status_code == 409
    assert response.json()["code"] == "pool_empty"
    assert "language 'sv' with fraud level 1" in response.json()["message"]
    assert not Transfer.objects.exists()
    _nothing_changed(ticket, sender)


def test_a_second_transfer_while_one_waits_is_refused(sender):
    ticket = held_ticket(sender)
    online(AgentFactory(languages=["en"]))
    online(AgentFactory(languages=["en"]))
    client = client_with_token(sender.user)
    assert transfer(client, ticket, {"to": {"language": "en"}}).status_code == 202
    second = transfer(client, ticket, {"to": {"language": "en"}})
    assert second.status_code == 409 and second.json()["code"] == "transfer_pending"
    assert Transfer.objects.count() == 1
    assert Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).count() == 1


def test_supervisors_and_integrations_cannot_transfer(sender, supervisor_client, integration_client):
    ticket = held_ticket(sender)
    assert transfer(supervisor_client, ticket, {"to": {"language": "en"}}).status_code == 403
    assert transfer(integration_client, ticket, {"to": {"language": "en"}}).status_code == 403


# ---------------------------------------------------------------- pay for each part


def test_each_agent_is_paid_for_their_own_part(sender):
    from actions.tickets import assignment_wrap_up_end
    from payouts.services import ticket_pay_compute

    set_policy(wrap_up_seconds=0)
    ticket = held_ticket(sender)
    Assignment.objects.filter(ticket=ticket).update(started_at=timezone.now() - timedelta(minutes=5))
    receiver = online(AgentFactory(languages=["en"]))
    transfer(client_with_token(sender.user), ticket, {"to": {"agent_id": str(receiver.pk)}})
    services.offer_accept(offer_id=Offer.objects.get(ticket=ticket, status="pending").pk, agent=receiver)
    client_with_token(receiver.user).post(f"/api/v1/tickets/{ticket.pk}/resolve/", {"outcome": "solved"}, format="json")
    assignment_wrap_up_end(ticket_id=ticket.pk)
    ticket_pay_compute(ticket_id=ticket.pk)

    [part] = PayLine.objects.filter(agent=sender)
    assert part.kind == "transfer_part"
    assert part.explanation.startswith("Your part before you transferred the customer: 5 min engaged at")
    assert part.inputs["engaged_seconds"] >= 300
    receiver_kinds = set(PayLine.objects.filter(agent=receiver).values_list("kind", flat=True))
    assert {"base", "time"} <= receiver_kinds
    time_line = PayLine.objects.get(agent=receiver, kind="time")
    assert "your part since you took over the transfer" in time_line.explanation
    assert time_line.inputs["engaged_seconds"] < 60  # the receiver's own minutes, not the sender's 5


def test_refusals_are_in_the_agents_language(sender):
    ticket = held_ticket(sender)
    client = client_with_token(sender.user)
    response = client.post(
        f"/api/v1/tickets/{ticket.pk}/transfer/",
        {"to": {"agent_id": str(sender.pk)}},
        format="json",
        HTTP_ACCEPT_LANGUAGE="sv",
    )
    assert response.status_code == 400
    assert response.json()["to"]["agent_id"] == ["Du kan inte lämna över ett ärende till dig själv."]
    german = client.delete(f"/api/v1/tickets/{ticket.pk}/transfer/", HTTP_ACCEPT_LANGUAGE="de")
    assert german.status_code == 404
    assert german.json()["message"] == "Für dieses Ticket wartet keine Übergabe von Ihnen auf Antwort."
