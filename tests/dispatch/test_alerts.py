"""Supervisor alerts are acknowledged once, by one supervisor, with who and when (issue 14)."""

import threading

import pytest
from django.db import connection

from core.errors import DomainError
from core.models import AuditEntry
from dispatch.alerts import alert_acknowledge
from dispatch.models import SupervisorAlert
from supervisor.selectors import board_snapshot
from tests.factories import TicketFactory, UserFactory


def _alert(**fields) -> SupervisorAlert:
    ticket = fields.pop("ticket", None) or TicketFactory()
    return SupervisorAlert.objects.create(
        kind="ticket_waiting", ticket=ticket, message=f"Ticket {ticket.external_id} waits.", **fields
    )


@pytest.mark.django_db
def test_a_supervisor_acknowledges_an_alert_with_a_note(
    supervisor, supervisor_client, django_capture_on_commit_callbacks
):
    alert = _alert()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = supervisor_client.post(
            f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Called the bot team."}, format="json"
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(alert.pk)
    assert body["acknowledged_by"] == supervisor.username and body["acknowledged_at"]
    assert body["note"] == "Called the bot team."
    alert.refresh_from_db()
    assert alert.acknowledged_by == supervisor and alert.acknowledged_at is not None
    entry = AuditEntry.objects.get(action="alert.acknowledged", subject_id=str(alert.pk))
    assert (entry.actor, entry.reason) == (supervisor, "Called the bot team.")
    assert callbacks, "the other supervisors' boards are told after commit"


@pytest.mark.django_db
def test_an_acknowledged_alert_leaves_the_open_count_and_shows_who_and_when(supervisor):
    first, second = _alert(), _alert()
    board = board_snapshot()
    assert board["alerts_open"] == 2 and len(board["alerts"]) == 2

    alert_acknowledge(alert_id=first.pk, actor=supervisor)

    board = board_snapshot()
    assert board["alerts_open"] == 1
    assert [a["id"] for a in board["alerts"]] == [str(second.pk)]
    [acknowledged] = board["alerts_acknowledged"]
    assert acknowledged["id"] == str(first.pk) and acknowledged["acknowledged_by"] == supervisor.username


@pytest.mark.django_db
def test_acknowledging_twice_is_refused_naming_who_and_when(supervisor, supervisor_client):
    alert = _alert()
    other = UserFactory(role="supervisor", username="greta")
    alert_acknowledge(alert_id=alert.pk, actor=other)
    response = supervisor_client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "already_acknowledged"
    assert body["acknowledged_by"] == "greta" and body["acknowledged_at"]
    assert "greta" in body["message"]
    alert.refresh_from_db()
    assert alert.acknowledged_by == other
    assert AuditEntry.objects.filter(action="alert.acknowledged").count() == 1


@pytest.mark.django_db
def test_only_supervisors_acknowledge_and_unknown_alerts_are_404(agent_client, finance_client, supervisor_client):
    import uuid

    alert = _alert()
    assert agent_client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert finance_client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert agent_client.get("/api/v1/alerts/").status_code == 403
    assert supervisor_client.post(f"/api/v1/alerts/{uuid.uuid4()}/acknowledge/").status_code == 404
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


@pytest.mark.django_db
def test_the_alert_list_filters_by_state(supervisor, supervisor_client):
    open_alert, done = _alert(), _alert()
    alert_acknowledge(alert_id=done.pk, actor=supervisor, note="seen")

    def ids(state):
        response = supervisor_client.get("/api/v1/alerts/", {"state": state} if state else {})
        assert response.status_code == 200
        return {row["id"] for row in response.json()}

    assert ids(None) == ids("open") == {str(open_alert.pk)}
    assert ids("acknowledged") == {str(done.pk)}
    assert ids("all") == {str(open_alert.pk), str(done.pk)}
    [row] = supervisor_client.get("/api/v1/alerts/", {"state": "acknowledged"}).json()
    assert (row["acknowledged_by"], row["note"]) == (supervisor.username, "seen")
    response = supervisor_client.get("/api/v1/alerts/", {"state": "closed"})
    assert response.status_code == 400 and "state" in response.json()


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_acknowledging_at_once_leave_exactly_one_winner():
    alert = _alert()
    supervisors = [UserFactory(role="supervisor") for _ in range(8)]
    barrier = threading.Barrier(len(supervisors))
    results: list = [None] * len(supervisors)

    def run(index, actor):
        try:
            barrier.wait()
            results[index] = alert_acknowledge(alert_id=alert.pk, actor=actor)
        except Exception as exc:  # noqa: BLE001 - the losers raise, and we count them
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(supervisors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [r for r in results if isinstance(r, SupervisorAlert)]
    losers = [r for r in results if isinstance(r, DomainError) and r.code == "already_acknowledged"]
    assert (len(winners), len(losers)) == (1, len(supervisors) - 1)
    alert.refresh_from_db()
    assert alert.acknowledged_by_id == winners[0].acknowledged_by_id
    assert AuditEntry.objects.filter(action="alert.acknowledged", subject_id=str(alert.pk)).count() == 1
