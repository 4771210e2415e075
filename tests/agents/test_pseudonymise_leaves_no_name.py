"""Pseudonymisation leaves no name behind: after it, the former display name and username appear in no API
response or page a supervisor can read about the agent and their tickets: webhook bodies, alerts, ticket
texts, the timeline, the pool. The delivered bytes were history; what the platform keeps is not."""

import json

import pytest

from agents.models import Agent
from dispatch import services as dispatch_services
from dispatch.policy import policy_current
from tests.conftest import client_with_token
from tests.factories import AgentFactory, TicketFactory, UserFactory, integration_with_token, online
from tests.security.test_iban_confidentiality import crawl, session_client, token_client
from tickets.models import WebhookDelivery

pytestmark = pytest.mark.django_db

NAME = "Mia Berger"
USERNAME = "mia.berger"


def offered_and_accepted(agent, ticket, agent_client):
    [offer] = dispatch_services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer.agent == agent
    assert agent_client.post(f"/api/v1/offers/{offer.pk}/accept/").status_code == 200
    return offer


@pytest.fixture
def mias_work():
    """Mia handled one ticket to the end (she signed her reply, the notes and the customer's rating name
    her) and lost another when her connection dropped (the supervisors' alert names her)."""
    policy_current()
    agent = online(AgentFactory(display_name=NAME, user__username=USERNAME, languages=["en"], max_concurrent=3))
    integration, token = integration_with_token()
    bot = client_with_token(integration.user)
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    mia = client_with_token(agent.user)

    solved = TicketFactory(language="en", integration=integration)
    solved_offer = offered_and_accepted(agent, solved, mia)
    reply = mia.post(
        f"/api/v1/tickets/{solved.pk}/messages/",
        {"text": f"Hello, I am {NAME} and I will sort this out."},
        format="json",
    )
    assert reply.status_code == 201, reply.content
    resolved = mia.post(
        f"/api/v1/tickets/{solved.pk}/resolve/",
        {
            "outcome": "solved",
            "notes": f"Refunded. {NAME} ({USERNAME})",
            "bot_feedback": {"escalation_avoidable": False, "comment": f"- {NAME}"},
        },
        format="json",
    )
    assert resolved.status_code == 200, resolved.content
    rated = bot.post(f"/api/v1/tickets/{solved.pk}/csat/", {"score": 5, "comment": f"Thank you {NAME}!"}, format="json")
    assert rated.status_code in (200, 201), rated.content

    lost = TicketFactory(language="en", integration=integration)
    lost_offer = offered_and_accepted(agent, lost, mia)
    policy = policy_current()
    Agent.objects.filter(pk=agent.pk).update(
        presence=Agent.Presence.OFFLINE, open_sockets=0, disconnected_at=solved.created_at.replace(year=2000)
    )
    assert dispatch_services.tickets_requeue_for_absent_agents(policy=policy) == 1
    return {"agent": agent, "tickets": [solved, lost], "offers": [solved_offer, lost_offer]}


def supervisor_reads(work) -> dict[str, str]:
    """Every page and API response a supervisor can GET about the agent and each of their tickets."""
    supervisor = UserFactory(role="supervisor")
    bodies = {}
    for client in (token_client(supervisor), session_client(supervisor)):
        for ticket, offer in zip(work["tickets"], work["offers"], strict=True):
            values = {"agent_id": str(work["agent"].pk), "ticket_id": str(ticket.pk), "offer_id": str(offer.pk)}
            bodies.update(crawl(client, values))
            url = f"/api/v1/webhook-deliveries/?ticket={ticket.pk}"
            bodies[url] = client.get(url).content.decode()
        url = f"/api/v1/agents/?search={work['agent'].user.username}"
        bodies[url] = client.get(url).content.decode()
    return bodies


def naming_her(bodies: dict[str, str]) -> list[str]:
    return sorted(url for url, body in bodies.items() if NAME in body or USERNAME in body)


def test_the_former_name_is_gone_from_everything_a_supervisor_reads(mias_work, supervisor_client):
    agent = mias_work["agent"]
    before = naming_her(supervisor_reads(mias_work))
    # The crawl does reach the copies: webhook bodies, the alert, the ticket's texts, the pool.
    assert any(url.startswith("/api/v1/webhook-deliveries/") for url in before), before
    assert any("timeline" in url for url in before) and any("/supervisor/tickets/" in url for url in before), before

    response = supervisor_client.post(f"/api/v1/agents/{agent.pk}/pseudonymise/", {"reason": "Left"}, format="json")

    assert response.status_code == 200, response.content
    leaks = naming_her(supervisor_reads(mias_work))
    assert leaks == [], "\n".join(leaks)


def test_the_stored_webhook_bodies_name_the_pseudonym_and_keep_the_rest(mias_work, supervisor_client):
    agent = mias_work["agent"]
    solved = mias_work["tickets"][0]
    before = {d.pk: json.loads(d.body) for d in WebhookDelivery.objects.filter(ticket__in=mias_work["tickets"])}
    untouched = {
        d.pk: d.body for d in WebhookDelivery.objects.filter(ticket__in=mias_work["tickets"]) if NAME not in d.body
    }
    assert [b["agent"]["display_name"] for b in before.values() if b["event"] == "ticket.assigned"] == [NAME, NAME]

    supervisor_client.post(f"/api/v1/agents/{agent.pk}/pseudonymise/", {"reason": "Left"}, format="json")

    agent.refresh_from_db()
    pseudonym = agent.display_name
    after = {d.pk: d for d in WebhookDelivery.objects.filter(ticket__in=mias_work["tickets"])}
    assert after.keys() == before.keys()
    for pk, delivery in after.items():
        body = json.loads(delivery.body)
        assert NAME not in delivery.body and USERNAME not in delivery.body
        # The envelope and every other field are as they were: same id, sequence, time, ticket.
        for key in ("event", "delivery_id", "sequence", "occurred_at", "ticket"):
            assert body[key] == before[pk][key]
        if body["event"] == "ticket.assigned":
            assert body["agent"] == {"display_name": pseudonym}
        if pk in untouched:
            assert delivery.body == untouched[pk]  # byte for byte
    [reply] = [json.loads(d.body) for d in after.values() if d.event == "ticket.message"]
    assert reply["message"]["text"] == f"Hello, I am {pseudonym} and I will sort this out."
    solved.refresh_from_db()
    assert solved.csat_comment == f"Thank you {pseudonym}!"


def test_a_rename_is_audited_without_the_names(supervisor):
    from agents.services import agent_update
    from core.models import AuditEntry

    agent = AgentFactory(display_name=NAME)

    agent_update(agent=agent, actor=supervisor, display_name="Mia Schmidt")

    entry = AuditEntry.objects.get(action="agent.updated", subject_id=str(agent.pk))
    assert entry.data["display_name_changed"] is True
    assert "Mia" not in json.dumps(entry.data)
