"""The bot platform retries one escalation aggressively: several OS processes, each with many concurrent
requests, against two ASGI processes. One ticket comes of it; every caller gets 200/201 with its id."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import SkillFactory, integration_with_token
from tests.faults.conftest import record_figures
from tests.faults.helpers import escalation
from tickets.models import Message, Ticket, TicketSkill

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

HAMMER = Path(__file__).with_name("hammer.py")
PROCESSES = 4
REQUESTS_PER_PROCESS = 25


def test_the_same_escalation_from_many_processes_at_once_makes_one_ticket(fault_stack):
    SkillFactory(code="payments")
    integration, token = integration_with_token()
    body = escalation(
        external_id="chat-hammered",
        skills=["payments"],
        transcript=[
            {"role": "customer", "text": "I was charged twice", "at": "2026-11-21T10:00:00+01:00"},
            {"role": "bot", "text": "Let me get a human", "at": "2026-11-21T10:00:05+01:00"},
        ],
    )
    job = {
        "urls": [fault_stack.web_url(0), fault_stack.web_url(1)],
        "token": token,
        "body": body,
        "requests": REQUESTS_PER_PROCESS,
        "timeout_seconds": 60,
        # Every process fires at the same moment, once all of them have started.
        "start_at": time.time() + 4,
    }
    hammers = [
        subprocess.Popen(
            [sys.executable, str(HAMMER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for hammer in hammers:
        out, err = hammer.communicate(json.dumps(job).encode(), timeout=120)
        assert hammer.returncode == 0, err.decode()
        results += json.loads(out)

    statuses = sorted(status for status, _ in results)
    ids = {ticket_id for _, ticket_id in results}
    tickets = Ticket.objects.filter(integration=integration)
    record_figures(
        fault=f"intake: {len(results)} concurrent retries from {PROCESSES} processes",
        faults_injected=len(results) - 1,
        tickets_in_flight=1,
        tickets_lost=0 if tickets.count() >= 1 else 1,
        duplicate_tickets=max(0, tickets.count() - 1),
    )
    assert statuses == [200] * (len(results) - 1) + [201], results
    assert len(ids) == 1
    [ticket] = tickets
    assert str(ticket.pk) in ids
    assert ticket.external_id == "chat-hammered"
    assert list(TicketSkill.objects.filter(ticket=ticket).values_list("skill__code", flat=True)) == ["payments"]
    assert list(Message.objects.filter(ticket=ticket).order_by("seq").values_list("text", flat=True)) == [
        "I was charged twice",
        "Let me get a human",
    ]
    assert TicketSkill.objects.filter(ticket__integration=integration).count() == 1
    assert Message.objects.filter(ticket__integration=integration).count() == 2
