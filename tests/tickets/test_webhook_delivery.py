import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import AgentFactory, TicketFactory, integration_with_token
from tests.tickets.receiver import Receiver
from tickets.models import WebhookDelivery
from tickets.webhooks import webhook_deliver_for_ticket, webhook_due_ticket_ids, webhook_event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def assigned_ticket(url: str):
    integration, _ = integration_with_token(webhook_url=url)
    return TicketFactory(integration=integration, status="assigned", assigned_agent=AgentFactory(display_name="Mia"))


def record_three(ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        webhook_event_record(ticket=ticket, event="ticket.assigned", data={"agent": {"display_name": "Mia"}})
        webhook_event_record(ticket=ticket, event="ticket.message", data={"message": {"text": "Hi", "at": "x"}})
        webhook_event_record(ticket=ticket, event="ticket.resolved")


def test_a_receiver_failing_three_times_gets_each_event_once_in_order_signed(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0  # every retry is due at once; the live test waits for real
    receiver.fail_first = 3
    ticket = assigned_ticket(receiver.url)
    record_three(ticket, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(6):
            webhook_deliver_for_ticket(ticket_id=ticket.pk)
    assert [r.json["event"] for r in receiver.requests] == ["ticket.assigned"] * 4 + [
        "ticket.message",
        "ticket.resolved",
    ]
    assert [r.json["sequence"] for r in receiver.accepted] == [1, 2, 3]
    secret = ticket.integration.webhook_secret
    for received in receiver.accepted:
        assert received.signature_is_valid(secret)
        assert received.headers["X-Dispatch-Event"] == received.json["event"]
        assert received.headers["X-Dispatch-Delivery"] == received.json["delivery_id"]
        assert received.json["ticket"] == {
            "id": str(ticket.pk),
            "external_id": ticket.external_id,
            "status": "assigned",
        }
    assert receiver.accepted[0].json["agent"] == {"display_name": "Mia"}
    first = WebhookDelivery.objects.get(seq=1)
    assert (first.status, first.attempts, first.last_status_code) == ("delivered", 4, 200)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_failure_schedules_a_backoff_and_holds_back_later_events(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    receiver.fail_first = 100
    ticket = assigned_ticket(receiver.url)
    record_three(ticket, django_capture_on_commit_callbacks)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert webhook_deliver_for_ticket(ticket_id=ticket.pk) == 0
        assert webhook_deliver_for_ticket(ticket_id=ticket.pk) == 0  # not due yet: nothing is sent
    assert len(receiver.requests) == 1
    first = WebhookDelivery.objects.get(seq=1)
    assert first.status == "pending" and first.attempts == 1 and first.last_status_code == 500
    assert first.claimed_until is None
    assert before + dt.timedelta(seconds=9) < first.next_attempt_at < timezone.now() + dt.timedelta(seconds=11)
    assert len(callbacks) == 1  # a short countdown retry; longer waits are left to the sweep
    assert webhook_due_ticket_ids() == []


def test_an_unreachable_receiver_counts_as_a_failure(settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    ticket = assigned_ticket("http://127.0.0.1:9/hook")
    record_three(ticket, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        webhook_deliver_for_ticket(ticket_id=ticket.pk)
    first = WebhookDelivery.objects.get(seq=1)
    assert first.status == "pending" and first.last_status_code is None and "ConnectError" in first.last_error


def test_a_delivery_claimed_by_another_worker_is_left_alone(receiver, django_capture_on_commit_callbacks):
    ticket = assigned_ticket(receiver.url)
    record_three(ticket, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(seq=1).update(claimed_until=timezone.now() + dt.timedelta(seconds=30))
    assert webhook_deliver_for_ticket(ticket_id=ticket.pk) == 0
    assert receiver.requests == []
    assert webhook_due_ticket_ids() == []
    # The worker died: its lease runs out and the sweep picks the ticket up again.
    WebhookDelivery.objects.filter(seq=1).update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert webhook_due_ticket_ids() == [ticket.pk]


def test_after_the_retry_window_a_delivery_fails_for_good_and_the_next_goes(
    receiver, django_capture_on_commit_callbacks
):
    receiver.fail_first = 1
    ticket = assigned_ticket(receiver.url)
    record_three(ticket, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(seq=1).update(created_at=timezone.now() - dt.timedelta(hours=25))
    with django_capture_on_commit_callbacks(execute=False):
        assert webhook_deliver_for_ticket(ticket_id=ticket.pk) == 2
    assert dict(WebhookDelivery.objects.values_list("seq", "status")) == {1: "failed", 2: "delivered", 3: "delivered"}


def test_the_sweep_finds_tickets_with_due_deliveries(receiver, django_capture_on_commit_callbacks):
    ticket = assigned_ticket(receiver.url)
    record_three(ticket, django_capture_on_commit_callbacks)
    assert webhook_due_ticket_ids() == [ticket.pk]
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() + dt.timedelta(minutes=5))
    assert webhook_due_ticket_ids() == []


def test_the_sweep_asks_for_one_flush_while_it_waits(receiver, monkeypatch, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    from tickets.webhooks import FLUSH_QUEUED_KEY, webhook_sweep

    enqueued = []
    monkeypatch.setattr("tickets.tasks.webhook_flush_task.delay", lambda: enqueued.append("flush"))
    ticket = assigned_ticket(receiver.url)
    record_three(ticket, django_capture_on_commit_callbacks)
    cache.delete(FLUSH_QUEUED_KEY)
    assert webhook_sweep() == 1
    assert webhook_sweep() == 1  # still due: the flush has not run yet ...
    assert enqueued == ["flush"]  # ... and is asked for once


@pytest.mark.django_db(transaction=True)
def test_a_flush_delivers_every_due_ticket_each_in_order(receiver, monkeypatch, django_capture_on_commit_callbacks):
    """Tickets are sent in parallel (threads with their own connections: committed rows only)."""
    from tickets.webhooks import webhook_flush

    # This flush alone: no task for the live stack's worker, which shares this database.
    monkeypatch.setattr("tickets.tasks.webhook_flush_task.delay", lambda: None)
    tickets = [assigned_ticket(receiver.url) for _ in range(3)]
    for ticket in tickets:
        record_three(ticket, django_capture_on_commit_callbacks)

    assert webhook_flush() == 9
    assert WebhookDelivery.objects.filter(status="delivered").count() == 9
    for ticket in tickets:
        sequences = [r.json["sequence"] for r in receiver.accepted if r.json["ticket"]["id"] == str(ticket.pk)]
        assert sequences == [1, 2, 3]
