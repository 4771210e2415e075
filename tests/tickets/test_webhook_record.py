import json

import pytest

from tests.factories import AgentFactory, TicketFactory, integration_with_token
from tickets.models import WebhookDelivery
from tickets.webhooks import retry_delay, webhook_event_record

pytestmark = pytest.mark.django_db


def test_recording_an_event_numbers_it_per_ticket_and_fixes_the_body(django_capture_on_commit_callbacks):
    integration, _ = integration_with_token(webhook_url="http://127.0.0.1:9/hook")
    ticket = TicketFactory(integration=integration, status="assigned", assigned_agent=AgentFactory())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = webhook_event_record(ticket=ticket, event="ticket.assigned", data={"agent": {"display_name": "Anna"}})
        second = webhook_event_record(ticket=ticket, event="ticket.resolved")
    assert (first.seq, second.seq) == (1, 2)
    assert len(callbacks) == 2
    body = json.loads(first.body)
    assert body == {
        "event": "ticket.assigned",
        "delivery_id": str(first.id),
        "sequence": 1,
        "occurred_at": body["occurred_at"],
        "ticket": {"id": str(ticket.id), "external_id": ticket.external_id, "status": "assigned"},
        "agent": {"display_name": "Anna"},
    }
    assert first.status == "pending"


def test_an_integration_without_webhook_url_gets_a_skipped_row(django_capture_on_commit_callbacks):
    ticket = TicketFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = webhook_event_record(ticket=ticket, event="ticket.resolved")
    assert delivery.status == "skipped"
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 1


def test_retry_delay_doubles_and_is_capped(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert retry_delay(30).total_seconds() == 1800
