"""Supervisor alerts: raising one, reading them, and acknowledging one.

Alerts are raised by dispatch (supervisor_alert_raise: the escalation steps, agents gone too long) and
pushed to the supervisors' boards. A supervisor acknowledges an alert to say "I have this": it leaves
the open alerts, shows who acknowledged it and when, and the other supervisors' boards are told at
once. The optional note is kept in the audit log with the decision (the alert row holds who and when).
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from core import events
from core.audit import audit_record
from core.errors import DomainError, InvalidInput, NotFound
from core.models import AuditEntry
from dispatch.models import SupervisorAlert

ACKNOWLEDGED = "alert.acknowledged"
ALERT_STATES = ("open", "acknowledged", "all")
BOARD_OPEN_ALERTS = 10
BOARD_ACKNOWLEDGED_ALERTS = 5
BOARD_ACKNOWLEDGED_WINDOW = timedelta(hours=24)


def supervisor_alert_raise(*, kind: str, message: str, ticket=None, agent=None) -> SupervisorAlert | None:
    """Raise an alert once per (kind, ticket); supervisors' boards get it live."""
    try:
        with transaction.atomic():
            alert = SupervisorAlert.objects.create(kind=kind, ticket=ticket, agent=agent, message=message)
    except IntegrityError:
        return None
    events.send_to_supervisors_on_commit(
        {
            "type": "alert",
            "id": str(alert.id),
            "kind": kind,
            "message": message,
            "ticket_id": str(ticket.id) if ticket else None,
        }
    )
    return alert


class AlertAlreadyAcknowledged(DomainError):
    """409 that names who acknowledged the alert and when, in words and as fields."""

    def __init__(self, alert: SupervisorAlert):
        self.acknowledged_by = _username(alert.acknowledged_by)
        self.acknowledged_at = alert.acknowledged_at
        super().__init__(
            "already_acknowledged",
            _("%(who)s acknowledged this alert already, at %(when)s.")
            % {
                "who": self.acknowledged_by,
                "when": formats.date_format(timezone.localtime(alert.acknowledged_at), "DATETIME_FORMAT"),
            },
        )

    def as_dict(self) -> dict:
        return {
            **super().as_dict(),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at.isoformat(),
        }


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


# ---------------------------------------------------------------- reads


def alert_payload(alert: SupervisorAlert, *, note: str | None = None) -> dict:
    return {
        "id": str(alert.id),
        "kind": alert.kind,
        "message": alert.message,
        "ticket_id": str(alert.ticket_id) if alert.ticket_id else None,
        "raised_at": alert.raised_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": _username(alert.acknowledged_by),
        "note": note or "",
    }


def _payloads(alerts) -> list[dict]:
    """Alerts as payloads, each acknowledged one with its note from the audit log (one query)."""
    alerts = list(alerts)
    acknowledged = [str(alert.pk) for alert in alerts if alert.acknowledged_at is not None]
    notes = dict(
        AuditEntry.objects.filter(
            action=ACKNOWLEDGED, subject_type=SupervisorAlert._meta.model_name, subject_id__in=acknowledged
        ).values_list("subject_id", "reason")
        if acknowledged
        else ()
    )
    return [alert_payload(alert, note=notes.get(str(alert.pk))) for alert in alerts]


def alert_list(*, state: str = "open", limit: int = 200) -> list[dict]:
    """Alerts newest first: "open" (not acknowledged), "acknowledged" (newest acknowledgement first) or "all"."""
    if state not in ALERT_STATES:
        raise InvalidInput({"state": [_("State must be one of: %(states)s.") % {"states": ", ".join(ALERT_STATES)}]})
    alerts: QuerySet[SupervisorAlert] = SupervisorAlert.objects.select_related("acknowledged_by")
    if state == "open":
        alerts = alerts.filter(acknowledged_at__isnull=True).order_by("-raised_at")
    elif state == "acknowledged":
        alerts = alerts.filter(acknowledged_at__isnull=False).order_by("-acknowledged_at")
    else:
        alerts = alerts.order_by("-raised_at")
    return _payloads(alerts[:limit])


def alerts_for_board(*, now: datetime) -> dict:
    """The board's alerts: the newest open ones, how many are open in all, and the recently acknowledged."""
    open_alerts = SupervisorAlert.objects.filter(acknowledged_at__isnull=True)
    recent = (
        SupervisorAlert.objects.filter(acknowledged_at__gte=now - BOARD_ACKNOWLEDGED_WINDOW)
        .select_related("acknowledged_by")
        .order_by("-acknowledged_at")
    )
    return {
        "alerts": _payloads(open_alerts.order_by("-raised_at")[:BOARD_OPEN_ALERTS]),
        "alerts_open": open_alerts.count(),
        "alerts_acknowledged": _payloads(recent[:BOARD_ACKNOWLEDGED_ALERTS]),
    }


# ---------------------------------------------------------------- writes


@transaction.atomic
def alert_acknowledge(*, alert_id, actor, note: str = "") -> SupervisorAlert:
    """`actor` (a supervisor) acknowledges an open alert.

    Exactly one acknowledgement per alert: the claim is a conditional UPDATE of an alert not yet
    acknowledged, so of two supervisors acknowledging at once one wins and the other is refused with
    who and when (AlertAlreadyAcknowledged, 409). Audited with the note; the supervisors' boards are told
    after commit.
    """
    now = timezone.now()
    claimed = SupervisorAlert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=actor
    )
    alert = SupervisorAlert.objects.select_related("acknowledged_by").filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(_("There is no such alert."))
    if not claimed:
        raise AlertAlreadyAcknowledged(alert)
    audit_record(
        actor=actor,
        action=ACKNOWLEDGED,
        subject=alert,
        reason=note,
        data={"kind": alert.kind, "ticket_id": str(alert.ticket_id) if alert.ticket_id else None},
    )
    events.send_to_supervisors_on_commit({"type": "alert_acknowledged", **alert_payload(alert, note=note)})
    return alert
