"""An agent reading their offer sees their own score and why, never a colleague: no other agent's id, name,
username or score, in the offer or in the offer list. Supervisors keep the full decision record."""

import pytest

from agents.models import Agent
from dispatch import services
from tests.conftest import client_with_token
from tests.dispatch.conftest import set_policy
from tests.factories import AgentFactory, TicketFactory, online

pytestmark = pytest.mark.django_db


def numbers_in(value) -> set[float]:
    """Every number anywhere in a JSON document."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int | float):
        return {float(value)}
    if isinstance(value, dict):
        return set().union(*(numbers_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(numbers_in(v) for v in value)) if value else set()
    return set()


def colleagues_in(text: str, document, colleagues: list[Agent], scores: dict[str, float]) -> list[str]:
    """What of `colleagues` a serialized response gives away."""
    found = []
    for colleague in colleagues:
        for label, value in (
            ("id", str(colleague.pk)),
            ("id (hex)", colleague.pk.hex),
            ("display name", colleague.display_name),
            ("username", colleague.user.username),
        ):
            if value in text:
                found.append(f"{colleague.display_name}: {label}")
        if scores[str(colleague.pk)] in numbers_in(document):
            found.append(f"{colleague.display_name}: score")
    return found


@pytest.mark.parametrize("fanout", [1, 3], ids=["one-offer-several-candidates", "fan-out-to-three"])
def test_an_agent_sees_only_their_own_score_and_supervisors_the_runners_up(policy, supervisor_client, fanout):
    set_policy(offer_fanout=fanout)
    agents = [online(AgentFactory(languages=["en"], display_name=f"Colleague {n}")) for n in range(4)]
    for number, agent in enumerate(agents):  # different ratings, so every score differs
        Agent.objects.filter(pk=agent.pk).update(csat_sum=10 + 3 * number, csat_count=4)
    ticket = TicketFactory(language="en")

    offers = services.ticket_dispatch(ticket_id=ticket.pk)

    assert len(offers) == fanout
    offer = offers[0]
    record = offer.decision
    scores = {record["winner"]["agent_id"]: record["winner"]["score"]}
    scores.update({runner["agent_id"]: runner["score"] for runner in record["runners_up"]})
    assert len(scores) == 4 and len(set(scores.values())) == 4
    me = offer.agent
    colleagues = [agent for agent in agents if agent.pk != me.pk]
    mine = client_with_token(me.user)

    detail = mine.get(f"/api/v1/offers/{offer.pk}/")
    listed = mine.get("/api/v1/offers/")

    assert detail.status_code == 200 and listed.status_code == 200
    for response in (detail, listed):
        assert colleagues_in(response.content.decode(), response.json(), colleagues, scores) == []
    own = detail.json()
    assert own["agent_id"] == str(me.pk) and own["why"] == offer.why
    assert own["decision"]["score"] == scores[str(me.pk)]
    assert own["decision"]["components"] == record["winner"]["components"]
    assert [entry["offer_id"] for entry in listed.json()] == [str(offer.pk)]
    assert listed.json()[0]["decision"]["score"] == scores[str(me.pk)]

    records = supervisor_client.get(f"/api/v1/dispatch/tickets/{ticket.pk}/offers/").json()
    [full] = [entry["decision"] for entry in records if entry["offer_id"] == str(offer.pk)]
    assert {runner["agent_id"] for runner in full["runners_up"]} == set(scores) - {str(me.pk)}
    assert {runner["score"] for runner in full["runners_up"]} == {scores[str(colleague.pk)] for colleague in colleagues}
    assert supervisor_client.get(f"/api/v1/offers/{offer.pk}/").json()["decision"]["runners_up"]


def test_another_agents_offer_stays_hidden(policy):
    me, other = online(AgentFactory(languages=["en"])), AgentFactory(languages=["en"])
    [offer] = services.ticket_dispatch(ticket_id=TicketFactory(language="en").pk)
    assert offer.agent == me

    response = client_with_token(other.user).get(f"/api/v1/offers/{offer.pk}/")

    assert response.status_code == 404
