"""Re-escalation: escalations of one conversation are linked; the agent who last held the conversation
is offered it first when online with room (the decision record and the offer's reasons say so)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from dispatch.engine import dispatch_pass
from tests.conftest import client_with_token
from tests.factories import AgentFactory, TicketFactory, integration_with_token, online
from tickets.models import TicketStatus

pytestmark = pytest.mark.django_db


def _earlier_escalation(holder: Agent, integration, *, conversation_id="conv-9"):
    """The conversation's first escalation: served by `holder`, resolved and closed, then handed back."""
    now = timezone.now()
    return TicketFactory(
        integration=integration,
        language="en",
        conversation_id=conversation_id,
        status=TicketStatus.HANDED_BACK,
        assigned_agent=holder,
        queued_at=now - timedelta(hours=1),
        assigned_at=now - timedelta(minutes=50),
        resolved_at=now - timedelta(minutes=40),
        closed_at=now - timedelta(minutes=40),
        resolution_notes="Identity checked; the bot can finish the address change.",
        summary="Address change",
    )


@pytest.fixture
def two_agents(policy):
    """`favourite` ranks first by the policy's weights (never offered); `holder` was offered recently."""
    favourite = online(AgentFactory(languages=["en"], display_name="Mia"))
    holder = online(AgentFactory(languages=["en"], display_name="Anna"))
    Agent.objects.filter(pk=holder.pk).update(last_offer_at=timezone.now() - timedelta(seconds=5), offers_received=9)
    return favourite, holder


def test_the_agent_who_last_held_the_conversation_is_offered_it_first(two_agents):
    favourite, holder = two_agents
    integration = integration_with_token()[0]
    _earlier_escalation(holder, integration)
    again = TicketFactory(integration=integration, language="en", conversation_id="conv-9")

    (offer,) = dispatch_pass().offers

    assert offer.ticket_id == again.pk
    assert offer.agent_id == holder.pk
    assert {"code": "previous_holder", "params": {}} in offer.why_codes
    assert "You served this customer's conversation before, so you are asked first." in offer.why
    assert offer.decision["winner"]["facts"]["previous_holder"] is True
    assert "previous_holder" not in offer.decision["winner"]["components"]  # an order, not part of the score
    # The holder reads it in their own view of the decision, without the colleague who was passed over.
    own = client_with_token(holder.user).get(f"/api/v1/offers/{offer.pk}/").json()["decision"]
    assert own["facts"]["previous_holder"] is True
    assert str(favourite.pk) not in str(own)
    # The favourite, ranked above by score, is in the record as the runner-up.
    assert [r["agent_id"] for r in offer.decision["runners_up"]] == [str(favourite.pk)]


def test_without_a_link_the_same_ticket_goes_to_the_best_scored_agent(two_agents):
    """The control: the factor, not the scores, put the holder first above."""
    favourite, holder = two_agents
    integration = integration_with_token()[0]
    _earlier_escalation(holder, integration)
    unlinked = TicketFactory(integration=integration, language="en", conversation_id="conv-other")

    (offer,) = dispatch_pass().offers

    assert (offer.ticket_id, offer.agent_id) == (unlinked.pk, favourite.pk)
    assert "previous_holder" not in [r["code"] for r in offer.why_codes]


def test_another_integrations_conversation_of_the_same_id_is_not_linked(two_agents):
    favourite, holder = two_agents
    _earlier_escalation(holder, integration_with_token()[0])
    TicketFactory(integration=integration_with_token()[0], language="en", conversation_id="conv-9")

    (offer,) = dispatch_pass().offers

    assert offer.agent_id == favourite.pk


@pytest.mark.parametrize("unavailable", ["offline", "at_capacity"])
def test_a_holder_who_is_not_available_is_not_waited_for(two_agents, unavailable):
    favourite, holder = two_agents
    integration = integration_with_token()[0]
    _earlier_escalation(holder, integration)
    if unavailable == "offline":
        Agent.objects.filter(pk=holder.pk).update(presence=Agent.Presence.OFFLINE, open_sockets=0)
    else:
        Agent.objects.filter(pk=holder.pk).update(active_tickets=holder.max_concurrent)
    TicketFactory(integration=integration, language="en", conversation_id="conv-9")

    (offer,) = dispatch_pass().offers

    assert offer.agent_id == favourite.pk


def test_a_holder_beyond_the_pool_read_is_still_found(policy, monkeypatch):
    """The pool read holds the 24 agents waiting longest (for one ticket); the holder, offered a moment
    ago, comes after them and is read alone."""
    monkeypatch.setattr("dispatch.engine.SHORTLIST_SIZE", 1)
    waiting_longer = [online(AgentFactory(languages=["en"])) for _ in range(24)]
    holder = online(AgentFactory(languages=["en"]))
    now = timezone.now()
    for minutes, agent in enumerate(waiting_longer, start=10):
        Agent.objects.filter(pk=agent.pk).update(last_offer_at=now - timedelta(minutes=minutes), offers_received=1)
    Agent.objects.filter(pk=holder.pk).update(last_offer_at=now - timedelta(seconds=1), offers_received=1)
    integration = integration_with_token()[0]
    _earlier_escalation(holder, integration)
    TicketFactory(integration=integration, language="en", conversation_id="conv-9")

    (offer,) = dispatch_pass().offers

    assert offer.agent_id == holder.pk


def test_the_agent_sees_the_earlier_escalations_of_the_conversation(two_agents):
    favourite, holder = two_agents
    integration = integration_with_token()[0]
    first = _earlier_escalation(holder, integration)
    again = TicketFactory(
        integration=integration,
        language="en",
        conversation_id="conv-9",
        status=TicketStatus.ASSIGNED,
        assigned_agent=favourite,
        assigned_at=timezone.now(),
        holding=True,
    )

    body = client_with_token(favourite.user).get(f"/api/v1/tickets/{again.pk}/").json()

    assert body["conversation_id"] == "conv-9"
    (earlier,) = body["earlier_escalations"]
    assert earlier["id"] == str(first.pk)
    assert earlier["status"] == "handed_back"
    assert earlier["resolution_notes"] == "Identity checked; the bot can finish the address change."
    assert earlier["agent"] == {"display_name": "Anna"}  # a colleague's name, never their id
    assert str(holder.pk) not in str(body)


def test_the_previous_holder_reason_reads_in_the_agents_language():
    from dispatch.reasons import why_text

    reason = [{"code": "previous_holder", "params": {}}]
    assert why_text(reason, language="de") == [
        "Sie haben das Gespräch dieser Kundin oder dieses Kunden schon betreut, deshalb werden Sie zuerst gefragt."
    ]
    assert why_text(reason, language="sv") == [
        "Du har hjälpt den här kunden i samtalet tidigare, så du tillfrågas först."
    ]
