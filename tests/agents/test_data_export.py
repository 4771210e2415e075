"""GET /api/v1/me/export/: an agent downloads everything the platform holds about them, and nothing else."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from actions.supervision import appeal_submit
from actions.tickets import assignment_wrap_up_end, ticket_resolve
from agents.models import Agent, ShiftBooking
from agents.presence import presence_set
from agents.services import agent_suspend, payout_details_set
from agents.shifts import shift_claim, shift_publish
from core.models import AuditEntry
from dispatch import services as dispatch_services
from dispatch.policy import policy_current
from payouts.batches import payout_batch_approve, payout_batch_create
from payouts.models import PayLine
from payouts.services import ticket_pay_compute
from tests.conftest import client_with_token
from tests.factories import AgentFactory, TicketFactory, UserFactory, online
from tests.payouts.factories import PayLineFactory, RateCardFactory
from tickets.services import message_add

pytestmark = pytest.mark.django_db


def work_a_ticket(agent, *, reply: str, external_id: str):
    """An offer the agent accepts, a conversation, a resolution and its pay, through the real services."""
    ticket = TicketFactory(language="de", skills={"payments": 2}, external_id=external_id)
    [offer] = dispatch_services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer.agent_id == agent.pk
    dispatch_services.offer_accept(offer_id=offer.pk, agent=agent)
    message_add(ticket=ticket, text="Where is my refund?")
    message_add(ticket=ticket, text=reply, agent=agent)
    ticket_resolve(ticket_id=ticket.pk, agent=agent, outcome="solved", notes=f"notes for {external_id}")
    assignment_wrap_up_end(ticket_id=ticket.pk, agent=agent)  # "ready for the next customer"
    ticket_pay_compute(ticket_id=ticket.pk)
    return ticket, offer


def decline_a_ticket(agent, *, reason: str):
    ticket = TicketFactory(language="de", skills={"payments": 2})
    [offer] = dispatch_services.ticket_dispatch(ticket_id=ticket.pk)
    dispatch_services.offer_decline(offer_id=offer.pk, agent=agent, reason=reason)
    return offer


def set_presence(agent, presence: str):
    Agent.objects.filter(pk=agent.pk).update(presence=presence)


def set_up_payout_details(agent, *, iban: str):
    payout_details_set(agent=agent, holder=agent.display_name, iban=iban, bic="COBADEFFXXX")


@pytest.fixture
def history(db):
    policy_current()
    RateCardFactory()
    supervisor = UserFactory(role="supervisor")
    mia = online(AgentFactory(languages=["de"], skills={"payments": 3}, display_name="Mia Berger", max_concurrent=2))
    # Olaf is online too, with a lower level: Mia wins the first ticket and Olaf is in its decision record.
    other = online(AgentFactory(languages=["de"], skills={"payments": 2}, display_name="Olaf Other"))
    set_up_payout_details(mia, iban="DE89370400440532013000")
    set_up_payout_details(other, iban="DE02120300000000202051")
    ticket, offer = work_a_ticket(mia, reply="Refund sent, Mia here", external_id="chat-mia")
    assert str(other.pk) in json.dumps(offer.decision)
    set_presence(other, "away")
    declined = decline_a_ticket(mia, reason="lunch")
    set_presence(mia, "away")
    presence_set(agent=mia, status="online")  # one recorded stretch online
    presence_set(agent=mia, status="away")
    set_presence(other, "online")
    work_a_ticket(other, reply="Olaf's private reply", external_id="chat-olaf")
    decline_a_ticket(other, reason="olaf-busy")
    PayLineFactory(agent=other, amount=Decimal("77.77"), explanation="Olaf's own adjustment")
    # A paid batch with Mia's ticket pay in it.
    finance, approver = UserFactory(role="finance"), UserFactory(role="finance")
    today = timezone.now().date()
    batch = payout_batch_create(actor=finance, period_start=today, period_end=today, currency="EUR")
    payout_batch_approve(actor=approver, batch_id=batch.pk)
    # After the batch: an unpaid adjustment, a shift, a suspension and an appeal.
    PayLineFactory(agent=mia, amount=Decimal("1.25"), explanation="Late correction for Mia", reason="typo")
    shift = shift_publish(
        actor=supervisor,
        starts_at=timezone.now() + dt.timedelta(days=1),
        ends_at=timezone.now() + dt.timedelta(days=1, hours=4),
        places=2,
    )
    shift_claim(shift_id=shift.pk, agent=mia)
    agent_suspend(agent=mia, actor=supervisor, reason="Rude reply on chat-7")
    appeal_submit(agent=mia, text="The customer insulted me first")
    return {
        "supervisor": supervisor,
        "mia": mia,
        "other": other,
        "ticket": ticket,
        "offer": offer,
        "declined": declined,
        "batch": batch,
    }


def download(agent):
    response = client_with_token(agent.user).get("/api/v1/me/export/")
    assert response.status_code == 200, response.content
    return response, json.loads(b"".join(response.streaming_content))


def test_an_agent_downloads_everything_the_platform_holds_about_them(history):
    mia = history["mia"]
    response, export = download(mia)

    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="my-data-{mia.user.username}-{today}.json"'
    assert response["Content-Type"].startswith("application/json")

    profile = export["profile"]
    assert profile["display_name"] == "Mia Berger"
    assert profile["languages"] == ["de"]
    assert [(s["code"], s["level"]) for s in profile["skills"]] == [("payments", 3)]
    assert profile["payout_details"]["iban"] == "DE89370400440532013000"  # in full: it is their own
    assert profile["status"] == "suspended" and profile["status_reason"] == "Rude reply on chat-7"
    assert export["presence"]["presence"] == "away"
    [interval] = export["presence"]["online_intervals"]
    assert interval["started_at"] and interval["ended_at"]

    offers = {o["id"]: o for o in export["offers"]}
    accepted, declined = offers[str(history["offer"].pk)], offers[str(history["declined"].pk)]
    assert accepted["status"] == "accepted" and accepted["answered_at"]
    assert accepted["why"] == history["offer"].why and accepted["why"]
    # Their own score and its parts, as the offer API shows them; no colleague's id or score.
    assert accepted["decision"]["score"] == history["offer"].decision["winner"]["score"]
    assert accepted["decision"]["components"] == history["offer"].decision["winner"]["components"]
    assert "runners_up" not in accepted["decision"]
    assert accepted["pay_estimate"]["currency"] == "EUR" and Decimal(accepted["pay_estimate"]["amount"]) > 0
    assert accepted["surge"] and accepted["policy_version"] == history["offer"].policy.version
    assert declined["status"] == "declined" and declined["decline_reason"] == "lunch"

    [ticket] = export["tickets"]
    assert ticket["id"] == str(history["ticket"].pk) and ticket["outcome"] == "solved"
    assert ticket["resolution_notes"] == "notes for chat-mia"
    assert [(m["from"], m["text"]) for m in ticket["messages"]] == [
        ("customer", "Where is my refund?"),
        ("you", "Refund sent, Mia here"),
    ]

    lines = export["pay_lines"]
    assert len(lines) == PayLine.objects.filter(agent=mia).count() >= 2
    assert sum(Decimal(line["amount"]) for line in lines) == sum(
        row.amount for row in PayLine.objects.filter(agent=mia)
    )
    assert {line["paid_in_batch"] for line in lines if line["kind"] != "adjustment"} == {str(history["batch"].pk)}
    assert [line["paid_in_batch"] for line in lines if line["kind"] == "adjustment"] == [None]
    assert [p["ticket_id"] for p in export["pay_computations"]] == [str(history["ticket"].pk)]

    [item] = export["payout_items"]
    assert item["batch_status"] == "approved" and item["paid_to"]["iban"] == "DE89370400440532013000"
    assert len(export["shift_bookings"]) == ShiftBooking.objects.filter(agent=mia).count() == 1
    assert [a["text"] for a in export["appeals"]] == ["The customer insulted me first"]

    audit = {(e["action"], e["by"]) for e in export["audit_entries"]}
    assert ("agent.suspended", history["supervisor"].username) in audit  # who decided about them
    [suspended] = [e for e in export["audit_entries"] if e["action"] == "agent.suspended"]
    assert suspended["reason"] == "Rude reply on chat-7"
    assert ("agent.payout_details_changed", "you") in audit  # made by them
    assert ("shift.claimed", "you") in audit
    assert ("agent.appealed", "you") in audit
    expected = AuditEntry.objects.filter(subject_type="agent", subject_id=str(mia.pk)).count()
    assert len([e for e in export["audit_entries"] if e["subject"] == f"agent:{mia.pk}"]) == expected


def test_the_export_holds_nothing_about_another_agent(history):
    _, export = download(history["mia"])
    text = json.dumps(export)
    for foreign in ("Olaf", "olaf-busy", "DE02120300000000202051", "77.77", str(history["other"].pk)):
        assert foreign not in text, f"{foreign!r} leaked into Mia's export"
    # And Olaf's export is his own.
    _, theirs = download(history["other"])
    assert theirs["profile"]["display_name"] == "Olaf Other"
    assert "Refund sent, Mia here" not in json.dumps(theirs)


def test_only_the_agent_themself_may_download_it(history, supervisor_client, finance_client, api_client):
    assert api_client.get("/api/v1/me/export/").status_code == 401
    assert supervisor_client.get("/api/v1/me/export/").status_code == 403
    assert finance_client.get("/api/v1/me/export/").status_code == 403


def test_an_agent_with_thousands_of_pay_lines_is_streamed_with_few_queries(django_assert_max_num_queries):
    agent = AgentFactory()
    PayLine.objects.bulk_create(
        PayLine(agent=agent, kind="adjustment", amount=Decimal("0.01"), currency="EUR", explanation=f"l{i}", reason="x")
        for i in range(3000)
    )
    client = client_with_token(agent.user)
    with django_assert_max_num_queries(40):
        response = client.get("/api/v1/me/export/")
        chunks = list(response.streaming_content)
    assert response.streaming
    export = json.loads(b"".join(chunks))
    assert len(export["pay_lines"]) == 3000
    assert sum(Decimal(line["amount"]) for line in export["pay_lines"]) == Decimal("30.00")
    # Written row by row, not as one string built in memory.
    assert len(chunks) > 3000
