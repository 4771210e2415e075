import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import TicketFactory, integration_with_token
from tickets.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_messages_get_consecutive_numbers():
    integration, token = integration_with_token()
    ticket = TicketFactory(integration=integration, last_message_seq=0)
    barrier = threading.Barrier(12)
    statuses = []

    def post(n):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait(timeout=30)
            response = client.post(f"/api/v1/tickets/{ticket.pk}/messages/", {"text": f"m{n}"}, format="json")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [201] * 12
    assert sorted(Message.objects.filter(ticket=ticket).values_list("seq", flat=True)) == list(range(1, 13))
    ticket.refresh_from_db()
    assert ticket.last_message_seq == 12
