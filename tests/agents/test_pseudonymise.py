"""POST /api/v1/agents/{id}/pseudonymise/: a departed agent's personal data is replaced for good, while the
records finance and the audit must keep stay exactly as they were."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from actions.people import agent_pseudonymise
from agents.models import Agent
from agents.services import payout_details_set
from core.models import AuditEntry
from dispatch import services as dispatch_services
from dispatch.policy import policy_current
from payouts.batches import payout_batch_approve, payout_batch_create, payout_batch_export_csv
from payouts.models import PayLine, PayoutItem
from tests.conftest import client_with_token
from tests.factories import PASSWORD, AgentFactory, TicketFactory, UserFactory, online
from tests.payouts.factories import PayLineFactory, RateCardFactory

pytestmark = pytest.mark.django_db


def url(agent) -> str:
    return f"/api/v1/agents/{agent.pk}/pseudonymise/"


@pytest.fixture
def departing(db):
    """Mia: paid in an approved batch (CSV exported), signed in with a token and a browser session."""
    agent = AgentFactory(
        display_name="Mia Berger", languages=["de", "sv"], skills={"payments": 4}, user__email="mia@example.com"
    )
    agent.user.first_name, agent.user.last_name = "Mia", "Berger"
    agent.user.save()
    payout_details_set(
        agent=agent,
        holder="Mia Berger",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        address={"street": "Hauptstr. 1", "postcode": "10115", "town": "Berlin", "country": "DE"},
    )
    PayLineFactory(agent=agent, amount=Decimal("12.40"), explanation="Base pay")
    PayLineFactory(agent=agent, amount=Decimal("-0.40"), explanation="Correction", reason="double counted")
    finance, approver = UserFactory(role="finance"), UserFactory(role="finance")
    today = timezone.now().date()
    batch = payout_batch_create(actor=finance, period_start=today, period_end=today, currency="EUR")
    payout_batch_approve(actor=approver, batch_id=batch.pk)
    _, csv_before = payout_batch_export_csv(actor=finance, batch_id=batch.pk)
    browser = Client()
    assert browser.login(username=agent.user.username, password=PASSWORD)
    return {
        "agent": agent,
        "token_client": client_with_token(agent.user),
        "browser": browser,
        "batch": batch,
        "finance": finance,
        "csv_before": csv_before,
        "old_username": agent.user.username,
    }


def test_a_departed_agent_is_pseudonymised_and_the_financial_records_stay(departing, supervisor, supervisor_client):
    agent = departing["agent"]
    assert departing["token_client"].get("/api/v1/me/").status_code == 200
    lines_before = list(PayLine.objects.filter(agent=agent).order_by("pk").values())
    items_before = list(PayoutItem.objects.filter(agent=agent).values())

    response = supervisor_client.post(url(agent), {"reason": "Left on 30 November"}, format="json")

    assert response.status_code == 200, response.content
    short_id = agent.pk.hex[:8]
    assert response.json()["display_name"] == f"Former agent {short_id}"
    agent.refresh_from_db()
    user = agent.user
    assert agent.display_name == f"Former agent {short_id}"
    assert user.username == f"departed-{short_id}"
    assert (user.email, user.first_name, user.last_name) == ("", "", "")
    assert not user.is_active and not user.has_usable_password()
    assert agent.pseudonymised_at is not None and agent.status == Agent.Status.SUSPENDED
    assert (agent.payout_holder, agent.payout_iban, agent.payout_bic, agent.payout_street, agent.payout_town) == (
        "",
        "",
        "",
        "",
        "",
    )
    assert not agent.language_rows.exists() and not agent.skill_levels.exists()

    # Signed out everywhere, and cannot sign in again with the old name and password.
    assert departing["token_client"].get("/api/v1/me/").status_code == 401
    assert departing["browser"].get("/agent/").status_code == 302
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    login = client_with_token(supervisor).post(
        "/api/v1/auth/token/", {"username": departing["old_username"], "password": PASSWORD}, format="json"
    )
    assert login.status_code == 401

    # Finance keeps every line and item as it was, and the exported file is byte for byte the same.
    assert list(PayLine.objects.filter(agent=agent).order_by("pk").values()) == lines_before
    assert list(PayoutItem.objects.filter(agent=agent).values()) == items_before
    assert items_before[0]["agent_name"] == "Mia Berger" and items_before[0]["iban"] == "DE89370400440532013000"
    _, csv_after = payout_batch_export_csv(actor=departing["finance"], batch_id=departing["batch"].pk)
    assert csv_after == departing["csv_before"]

    # Recorded with who and why, and the record itself names nobody.
    entry = AuditEntry.objects.get(action="agent.pseudonymised", subject_id=str(agent.pk))
    assert entry.actor == supervisor and entry.reason == "Left on 30 November"
    assert "Mia" not in str(entry.data) and departing["old_username"] not in str(entry.data)


def test_the_supervisor_pool_no_longer_finds_the_old_name(departing, supervisor_client):
    agent = departing["agent"]
    supervisor_client.post(url(agent), {"reason": "Left"}, format="json")
    assert supervisor_client.get("/api/v1/agents/", {"search": "Mia"}).json() == []
    assert supervisor_client.get("/api/v1/agents/", {"search": departing["old_username"]}).json() == []
    assert supervisor_client.get(f"/api/v1/agents/{agent.pk}/").json()["display_name"].startswith("Former agent")


def test_a_reason_is_required_and_nothing_changes_without_one(departing, supervisor_client):
    agent = departing["agent"]
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = supervisor_client.post(url(agent), body, format="json")
        assert response.status_code == 400, body
        assert "reason" in response.json()
    agent.refresh_from_db()
    assert agent.display_name == "Mia Berger" and agent.user.is_active and agent.pseudonymised_at is None
    assert departing["token_client"].get("/api/v1/me/").status_code == 200


def test_pseudonymising_twice_is_refused(departing, supervisor_client):
    agent = departing["agent"]
    assert supervisor_client.post(url(agent), {"reason": "Left"}, format="json").status_code == 200
    again = supervisor_client.post(url(agent), {"reason": "Left"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_pseudonymised"
    assert AuditEntry.objects.filter(action="agent.pseudonymised").count() == 1


def assert_untouched(agent, client):
    agent.refresh_from_db()
    assert agent.display_name == "Mia Berger" and agent.pseudonymised_at is None
    assert agent.user.is_active and agent.payout_iban == "DE89370400440532013000"
    assert client.get("/api/v1/me/").status_code == 200
    assert not AuditEntry.objects.filter(action="agent.pseudonymised").exists()


def test_refused_while_the_agent_is_owed_money_finance_has_not_approved(departing, supervisor_client):
    agent = departing["agent"]
    PayLineFactory(agent=agent, amount=Decimal("3.10"), explanation="Shift guarantee")

    response = supervisor_client.post(url(agent), {"reason": "Left"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "agent_has_open_obligations"
    assert "3.10 EUR" in response.json()["message"] and "finance" in response.json()["message"]
    assert_untouched(agent, departing["token_client"])


def test_money_in_a_draft_batch_still_blocks_and_an_approved_one_does_not(departing, supervisor_client):
    agent = departing["agent"]
    tomorrow = timezone.now() + dt.timedelta(days=1)
    PayLineFactory(agent=agent, amount=Decimal("5.00"), explanation="Late line", created_at=tomorrow)
    finance, approver = UserFactory(role="finance"), UserFactory(role="finance")
    draft = payout_batch_create(actor=finance, period_start=tomorrow.date(), period_end=tomorrow.date(), currency="EUR")
    assert supervisor_client.post(url(agent), {"reason": "Left"}, format="json").status_code == 409
    payout_batch_approve(actor=approver, batch_id=draft.pk)
    assert supervisor_client.post(url(agent), {"reason": "Left"}, format="json").status_code == 200


def test_an_unpaid_remainder_of_zero_or_less_does_not_block(departing, supervisor_client):
    agent = departing["agent"]
    PayLineFactory(agent=agent, amount=Decimal("-1.00"), explanation="Clawback", reason="overpaid")
    assert supervisor_client.post(url(agent), {"reason": "Left"}, format="json").status_code == 200


def test_refused_while_the_agent_holds_a_ticket_or_has_a_pending_offer(departing, supervisor_client):
    agent = departing["agent"]
    policy_current()
    RateCardFactory()
    online(agent)
    ticket = TicketFactory(language="de", skills={"payments": 2})
    [offer] = dispatch_services.ticket_dispatch(ticket_id=ticket.pk)

    pending = supervisor_client.post(url(agent), {"reason": "Left"}, format="json")
    assert pending.status_code == 409 and "pending" in pending.json()["message"]

    dispatch_services.offer_accept(offer_id=offer.pk, agent=agent)
    holding = supervisor_client.post(url(agent), {"reason": "Left"}, format="json")
    assert holding.status_code == 409 and "open ticket" in holding.json()["message"]
    assert_untouched(agent, departing["token_client"])


def test_the_service_refuses_the_same_way(departing, supervisor):
    from core.errors import DomainError

    PayLineFactory(agent=departing["agent"], amount=Decimal("1.00"), explanation="Owed")
    with pytest.raises(DomainError) as refused:
        agent_pseudonymise(agent=departing["agent"], actor=supervisor, reason="Left")
    assert refused.value.code == "agent_has_open_obligations"


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_departed_agents_sockets_are_closed_and_stay_closed(live_stack):
    import time

    from websockets.exceptions import ConnectionClosed, InvalidStatus

    from agents.models import AgentConnection
    from agents.services import person_token_issue
    from tests.wsclient import AgentSocket

    agent = AgentFactory()
    token = person_token_issue(user=agent.user)
    tabs = [AgentSocket(live_stack.ws_url(), agent, token=token) for _ in range(2)]

    agent_pseudonymise(agent=agent, actor=UserFactory(role="supervisor"), reason="Left")

    for tab in tabs:
        with pytest.raises(ConnectionClosed) as closed:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                tab.ws.recv(timeout=deadline - time.monotonic())
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        AgentSocket(live_stack.ws_url(), agent, token=token)
    deadline = time.monotonic() + 15
    while AgentConnection.objects.filter(agent=agent).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not AgentConnection.objects.filter(agent=agent).exists()


def test_a_pseudonymised_agent_cannot_be_reinstated(departing, supervisor_client):
    agent = departing["agent"]
    assert supervisor_client.post(url(agent), {"reason": "Left"}, format="json").status_code == 200

    response = supervisor_client.post(f"/api/v1/agents/{agent.pk}/reinstate/", {"reason": "Came back"}, format="json")

    assert response.status_code == 409
    assert "pseudonymised" in response.json()["message"]
    agent.refresh_from_db()
    assert agent.status == Agent.Status.SUSPENDED
