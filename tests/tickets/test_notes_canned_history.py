"""Internal notes, canned responses and the customer's history (CONTRACT.md "Transfer, notes, canned
responses")."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import services
from tests.conftest import client_with_token
from tests.factories import AgentFactory, TicketFactory, online
from tickets.models import CannedResponse, TicketNote, WebhookDelivery

pytestmark = pytest.mark.django_db


def held_ticket(agent, **fields):
    ticket = TicketFactory(**{"language": "en", **fields})
    [offer] = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer.agent_id == agent.pk, "the test meant this agent to be the only one free"
    services.offer_accept(offer_id=offer.pk, agent=agent)
    ticket.refresh_from_db()
    return ticket


@pytest.fixture
def holder(db):
    return online(AgentFactory(display_name="Hanna H.", languages=["en", "sv"]))


# ---------------------------------------------------------------- notes


def test_the_holder_adds_a_note_and_the_next_holder_and_supervisors_read_it(holder, supervisor_client):
    ticket = held_ticket(holder)
    client = client_with_token(holder.user)

    response = client.post(
        f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "Promised a refund by Friday."}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["author"] == {"display_name": "Hanna H.", "role": "agent"}
    assert body["text"] == "Promised a refund by Friday." and body["at"]
    assert client.get(f"/api/v1/tickets/{ticket.pk}/").json()["notes"][0]["text"] == "Promised a refund by Friday."
    assert supervisor_client.get(f"/api/v1/tickets/{ticket.pk}/").json()["notes"][0]["id"] == body["id"]

    # A later holder (after a transfer) reads it too.
    receiver = online(AgentFactory(languages=["en"]))
    client.post(f"/api/v1/tickets/{ticket.pk}/transfer/", {"to": {"agent_id": str(receiver.pk)}}, format="json")
    offer = ticket.offers.get(status="pending")
    services.offer_accept(offer_id=offer.pk, agent=receiver)
    notes = client_with_token(receiver.user).get(f"/api/v1/tickets/{ticket.pk}/notes/").json()
    assert [n["text"] for n in notes] == ["Promised a refund by Friday."]


def test_a_supervisor_note_on_a_live_ticket_is_pushed_to_the_holder(
    holder, supervisor_client, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from core.events import agent_group

    ticket = held_ticket(holder)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(agent_group(holder.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        response = supervisor_client.post(
            f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "Offer 10% goodwill."}, format="json"
        )
    assert response.status_code == 201
    frame = async_to_sync(layer.receive)(channel)["frame"]
    assert frame["type"] == "note" and frame["ticket_id"] == str(ticket.pk)
    assert frame["note"]["text"] == "Offer 10% goodwill."
    assert frame["note"]["author"]["role"] == "supervisor"


def test_notes_never_reach_the_bot_platform(holder, integration_client):
    ticket = held_ticket(holder)
    client_with_token(holder.user).post(f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "INTERNAL-XYZ"}, format="json")
    client_with_token(holder.user).post(f"/api/v1/tickets/{ticket.pk}/resolve/", {"outcome": "solved"}, format="json")
    assert all("INTERNAL-XYZ" not in body for body in WebhookDelivery.objects.values_list("body", flat=True))
    # The integration that escalated it reads the ticket without notes or history.
    own = client_with_token(ticket.integration.user).get(f"/api/v1/tickets/{ticket.pk}/").json()
    assert "notes" not in own and "history" not in own and "INTERNAL-XYZ" not in str(own)
    assert (
        integration_client.post(f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "x"}, format="json").status_code == 403
    )


def test_note_refusals_change_nothing(holder):
    ticket = held_ticket(holder)
    client = client_with_token(holder.user)
    assert client.post(f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "x" * 2001}, format="json").status_code == 400
    assert client.post(f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "   "}, format="json").status_code == 400
    stranger = client_with_token(online(AgentFactory()).user)
    assert stranger.post(f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "hi"}, format="json").status_code == 404
    assert not TicketNote.objects.exists()


# ---------------------------------------------------------------- canned responses


def test_shared_and_personal_canned_responses_with_placeholders_filled(holder, supervisor_client):
    ticket = held_ticket(holder, language="sv", customer_display_name="Astrid")
    shared = supervisor_client.post(
        "/api/v1/canned-responses/",
        {"title": "Hälsning", "text": "Hej {customer_name}, jag heter {agent_name}.", "language": "sv"},
        format="json",
    )
    assert shared.status_code == 201 and shared.json()["shared"] is True
    supervisor_client.post(
        "/api/v1/canned-responses/", {"title": "Hallo", "text": "Hallo!", "language": "de"}, format="json"
    )
    client = client_with_token(holder.user)
    own = client.post(
        "/api/v1/canned-responses/", {"title": "Mine", "text": "Tack {customer_name}!", "language": "sv"}, format="json"
    )
    assert own.status_code == 201 and own.json()["shared"] is False
    other_agent = client_with_token(AgentFactory().user)
    other_agent.post(
        "/api/v1/canned-responses/", {"title": "Theirs", "text": "Not yours", "language": "sv"}, format="json"
    )

    listed = client.get(f"/api/v1/canned-responses/?language=sv&ticket={ticket.pk}").json()

    assert {r["title"] for r in listed} == {"Hälsning", "Mine"}  # not German, not a colleague's own
    by_title = {r["title"]: r for r in listed}
    assert set(by_title["Mine"]) == {"id", "title", "text", "language", "shared", "filled"}
    assert by_title["Hälsning"]["filled"] == "Hej Astrid, jag heter Hanna H.."
    assert by_title["Mine"]["filled"] == "Tack Astrid!"


def test_canned_response_refusals(holder, supervisor_client):
    client = client_with_token(holder.user)
    unknown = client.post(
        "/api/v1/canned-responses/", {"title": "T", "text": "Order {order_id}", "language": "en"}, format="json"
    )
    assert unknown.status_code == 400 and "{order_id}" in str(unknown.json()["text"])
    too_long = client.post(
        "/api/v1/canned-responses/", {"title": "T", "text": "x" * 2001, "language": "en"}, format="json"
    )
    assert too_long.status_code == 400 and "text" in too_long.json()
    bad_language = client.post(
        "/api/v1/canned-responses/", {"title": "T", "text": "x", "language": "xx"}, format="json"
    )
    assert bad_language.status_code == 400 and "language" in bad_language.json()
    assert not CannedResponse.objects.exists()

    shared = supervisor_client.post(
        "/api/v1/canned-responses/", {"title": "S", "text": "s", "language": "en"}, format="json"
    ).json()
    # An agent cannot change or delete a shared one; a supervisor cannot touch an agent's own.
    assert (
        client.patch(f"/api/v1/canned-responses/{shared['id']}/", {"text": "mine now"}, format="json").status_code
        == 404
    )
    assert client.delete(f"/api/v1/canned-responses/{shared['id']}/").status_code == 404
    own = client.post("/api/v1/canned-responses/", {"title": "O", "text": "o", "language": "en"}, format="json").json()
    assert supervisor_client.delete(f"/api/v1/canned-responses/{own['id']}/").status_code == 404
    bad_patch = client.patch(f"/api/v1/canned-responses/{own['id']}/", {"text": "{nope}"}, format="json")
    assert bad_patch.status_code == 400
    assert CannedResponse.objects.get(pk=own["id"]).text == "o"
    assert (
        client.patch(f"/api/v1/canned-responses/{own['id']}/", {"text": "Hi {agent_name}"}, format="json").status_code
        == 200
    )
    assert client.delete(f"/api/v1/canned-responses/{own['id']}/").status_code == 204
    assert (
        supervisor_client.patch(f"/api/v1/canned-responses/{shared['id']}/", {"title": "S2"}, format="json").json()[
            "title"
        ]
        == "S2"
    )


# ---------------------------------------------------------------- customer history


def test_the_holder_sees_the_customers_earlier_tickets_with_outcome_agent_and_notes(holder, supervisor_client):
    first_agent = online(AgentFactory(display_name="Ella E.", languages=["en"]))
    type(holder).objects.filter(pk=holder.pk).update(presence="offline")  # Ella serves the first contact
    earlier = held_ticket(first_agent, customer_ref="c-42")
    online(holder)
    first = client_with_token(first_agent.user)
    first.post(f"/api/v1/tickets/{earlier.pk}/notes/", {"text": "Promised a callback."}, format="json")
    first.post(f"/api/v1/tickets/{earlier.pk}/resolve/", {"outcome": "not_solved", "notes": "Needs IT"}, format="json")
    old = TicketFactory(integration=earlier.integration, customer_ref="c-42", status="cancelled")
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    TicketFactory(customer_ref="c-42", status="cancelled")  # another integration's customer c-42
    ticket = held_ticket(holder, integration=earlier.integration, customer_ref="c-42")

    history = client_with_token(holder.user).get(f"/api/v1/tickets/{ticket.pk}/").json()["history"]

    assert len(history) == 1
    [entry] = history
    assert entry["outcome"] == "not_solved" and entry["status"] == "resolved"
    assert entry["agent"] == {"display_name": "Ella E."}
    assert entry["resolution_notes"] == "Needs IT"
    assert [n["text"] for n in entry["notes"]] == ["Promised a callback."]
    assert supervisor_client.get(f"/api/v1/tickets/{ticket.pk}/").json()["history"][0]["id"] == str(earlier.pk)


def test_the_agents_data_export_holds_their_notes_and_canned_responses(holder):
    from console.data_export import agent_data_export

    ticket = held_ticket(holder)
    client = client_with_token(holder.user)
    client.post(f"/api/v1/tickets/{ticket.pk}/notes/", {"text": "Mine to keep."}, format="json")
    client.post("/api/v1/canned-responses/", {"title": "Own", "text": "Hej!", "language": "sv"}, format="json")

    export = agent_data_export(agent=holder)

    assert [n["text"] for n in export["notes_written"]] == ["Mine to keep."]
    assert [r["title"] for r in export["canned_responses"]] == ["Own"]
