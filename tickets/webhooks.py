"""Webhooks to the bot platform (CONTRACT.md "Webhooks"): an outbox of WebhookDelivery rows.

Recording an event writes a row in the caller's transaction (so an event of a rolled-back change is never
sent) and, on commit, asks a worker to deliver the ticket's due rows. Delivery keeps three promises:

- per-ticket order: only the ticket's pending row with the lowest `seq` (its head) may be sent; a later
  event waits until every earlier one is delivered (or has failed for good after WEBHOOK_RETRY_WINDOW);
- at-least-once with one id: a failed or unanswered POST is retried with exponential backoff
  (base WEBHOOK_RETRY_BASE_SECONDS, doubling, capped at WEBHOOK_RETRY_MAX_DELAY) for 24 hours, every time
  with the same body and `X-Dispatch-Delivery`, so receivers dedupe on it;
- one sender at a time: a worker claims a row with a conditional UPDATE (`claimed_until`, a lease) before
  sending, so two workers never POST the same delivery concurrently; a worker that dies mid-send loses
  its lease and the sweep picks the row up again.

Sending is batched: a commit that records events asks for one *flush* (webhook_flush: every due head of
every ticket, tickets in parallel, each ticket in order), and while a flush is queued more events add
nothing to the broker. Long waits live in `next_attempt_at`, not in the broker: a beat-driven sweep
(webhook_sweep_task) asks for a flush when something is due; short retry delays additionally get a short
countdown for their ticket.
"""

import contextvars
import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from core import metrics
from core.audit import audit_record
from core.errors import NotFound
from tickets.models import Ticket, WebhookDelivery, WebhookDeliveryStatus

logger = logging.getLogger(__name__)

D = WebhookDeliveryStatus

EVENTS = ("ticket.assigned", "ticket.message", "ticket.resolved", "ticket.handed_back")
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_CLAIM_SECONDS = 60  # longer than one POST with its timeout
WEBHOOK_RETRY_MAX_DELAY = timedelta(minutes=30)
WEBHOOK_RETRY_WINDOW = timedelta(hours=24)  # the contract asks for at least one hour
WEBHOOK_MAX_SENDS_PER_RUN = 50  # a task run stays well inside the Celery time limit
WEBHOOK_QUICK_RETRY_SECONDS = 60
WEBHOOK_SWEEP_DEDUPE_SECONDS = 10  # retries due sooner than this also get a countdown


def retry_base_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 10))


def retry_delay(attempts: int) -> timedelta:
    """Delay after the `attempts`-th failed attempt: base * 2**(attempts-1), capped at 30 minutes.

    With the default base of 10 s: 10 s, 20 s, 40 s, ... 21 min, then every 30 min until 24 h are over.
    """
    seconds = retry_base_seconds() * 2 ** max(attempts - 1, 0)
    return min(timedelta(seconds=seconds), WEBHOOK_RETRY_MAX_DELAY)


def signature_for(body: bytes, secret: str) -> str:
    """The X-Dispatch-Signature header value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def ticket_webhook_summary(ticket: Ticket) -> dict:
    return {"id": str(ticket.id), "external_id": ticket.external_id, "status": ticket.status}


def webhook_event_record(*, ticket: Ticket, event: str, data: dict | None = None) -> WebhookDelivery:
    """Record `event` for `ticket`'s integration in the caller's transaction; delivery starts on commit.

    Call it after the change the event reports (e.g. after the transition to assigned): the body carries
    `ticket.status` as it is on the instance. `data` is merged into the body's top level, e.g.
    {"agent": {"display_name": "Anna"}} for ticket.assigned or {"message": {"text", "at"}}.

    The per-ticket `seq` comes from an UPDATE of the ticket row, which holds that row until commit, so
    concurrent events of one ticket are numbered (and committed) in order.
    """
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}.")
    seq = _next_webhook_seq(ticket.pk)
    integration = ticket.integration
    delivery_id = uuid.uuid4()
    now = timezone.now()
    payload = {
        "event": event,
        "delivery_id": str(delivery_id),
        "sequence": seq,
        "occurred_at": now.isoformat(),
        "ticket": ticket_webhook_summary(ticket),
        **(data or {}),
    }
    delivery = WebhookDelivery.objects.create(
        id=delivery_id,
        ticket=ticket,
        integration=integration,
        seq=seq,
        event=event,
        body=_body_text(payload),
        status=D.PENDING if integration.webhook_url else D.SKIPPED,
        next_attempt_at=now,
    )
    if delivery.status == D.PENDING:
        _deliver_on_commit(ticket.pk)
    return delivery


def _body_text(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)


# What identifies a delivery and its ticket; a rewrite of the stored body never touches it.
WEBHOOK_ENVELOPE_KEYS = frozenset({"event", "delivery_id", "sequence", "occurred_at", "ticket"})


def _rewrite_texts(value, rewrite: Callable[[str], str]):
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, dict):
        return {key: _rewrite_texts(item, rewrite) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite_texts(item, rewrite) for item in value]
    return value


def webhook_bodies_rewrite(*, deliveries, rewrite: Callable[[str], str]) -> int:
    """Pass every text of the stored bodies of `deliveries` (a WebhookDelivery queryset), outside the
    envelope, through `rewrite`; returns how many bodies changed. Used by pseudonymisation: what was
    delivered is history, but the stored body is what the platform keeps, shows supervisors and sends on
    a redelivery. A body `rewrite` leaves as it was is not written, so it stays byte for byte; a changed
    one is encoded as webhook_event_record encodes, keys in their order."""
    changed = 0
    for pk, body in deliveries.values_list("pk", "body").iterator(chunk_size=500):
        payload = json.loads(body)
        rewritten = {
            key: value if key in WEBHOOK_ENVELOPE_KEYS else _rewrite_texts(value, rewrite)
            for key, value in payload.items()
        }
        if rewritten != payload:
            WebhookDelivery.objects.filter(pk=pk).update(body=_body_text(rewritten))
            changed += 1
    return changed


def _next_webhook_seq(ticket_id) -> int:
    # One round trip: the ORM's update() cannot return the new value (PostgreSQL and SQLite >= 3.35 can).
    quote = connection.ops.quote_name
    table, pk = quote(Ticket._meta.db_table), quote(Ticket._meta.pk.column)
    seq = quote(Ticket._meta.get_field("last_webhook_seq").column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {seq} = {seq} + 1 WHERE {pk} = %s RETURNING {seq}",
            [Ticket._meta.pk.get_db_prep_value(ticket_id, connection)],
        )
        return cursor.fetchone()[0]


FLUSH_QUEUED_KEY = "tickets:webhook-flush-queued"
FLUSH_THREADS = 8
FLUSH_BUDGET_SECONDS = 20  # a flush hands over to a fresh task run after this long


def webhook_flush_request() -> None:
    """Ask for a flush, unless one is queued and has not started looking yet (then it will see ours)."""
    from tickets.tasks import webhook_flush_task

    if cache.add(FLUSH_QUEUED_KEY, 1, timeout=60):
        webhook_flush_task.delay()


def _deliver_on_commit(ticket_id, countdown: float | None = None) -> None:
    # Robust: with the broker away the committed outbox row still holds the event and the sweep sends it
    # once Redis is back; a failed enqueue must not turn the caller's committed change into an error.
    if countdown:
        from tickets.tasks import webhook_deliver_task

        transaction.on_commit(
            lambda: webhook_deliver_task.apply_async(args=[str(ticket_id)], countdown=countdown), robust=True
        )
    else:
        transaction.on_commit(webhook_flush_request, robust=True)


_http_client: httpx.Client | None = None
_http_client_pid: int | None = None


def _client() -> httpx.Client:
    """One client per process: it keeps connections to the bots' receivers alive, and building a
    client (its TLS context above all) cost more than the delivery itself. Made again after a fork,
    since a prefork worker child must not share its parent's sockets."""
    global _http_client, _http_client_pid
    if _http_client is None or _http_client_pid != os.getpid():
        _http_client = httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS)
        _http_client_pid = os.getpid()
    return _http_client


def _post(delivery: WebhookDelivery) -> tuple[bool, int | None, str]:
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dispatch-platform-webhooks/1",
        "X-Dispatch-Event": delivery.event,
        "X-Dispatch-Delivery": str(delivery.id),
        "X-Dispatch-Signature": signature_for(body, delivery.integration.webhook_secret),
    }
    try:
        response = _client().post(delivery.integration.webhook_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return False, None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return True, response.status_code, ""
    return False, response.status_code, f"HTTP {response.status_code}"


def _head(ticket_id) -> WebhookDelivery | None:
    return (
        WebhookDelivery.objects.filter(ticket_id=ticket_id, status=D.PENDING)
        .select_related("integration")
        .order_by("seq")
        .first()
    )


def webhook_deliver_for_ticket(*, ticket_id) -> int:
    """Send the ticket's due deliveries in `seq` order. Returns how many were delivered.

    Stops at the first failure (scheduling its retry), at a head that is not due yet, and at a head
    another worker holds: a later event is never sent before an earlier one. Safe to run twice at once.
    """
    delivered = 0
    for _ in range(WEBHOOK_MAX_SENDS_PER_RUN):
        head = _head(ticket_id)
        now = timezone.now()
        if head is None or head.next_attempt_at > now:
            return delivered
        if not head.integration.webhook_url:
            WebhookDelivery.objects.filter(pk=head.pk, status=D.PENDING).update(status=D.SKIPPED, claimed_until=None)
            continue
        lease = now + timedelta(seconds=WEBHOOK_CLAIM_SECONDS)
        claimed = (
            WebhookDelivery.objects.filter(pk=head.pk, status=D.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_until=lease, attempts=F("attempts") + 1, last_attempt_at=now)
        )
        if not claimed:
            return delivered  # another worker holds it; it continues with the rest
        ok, status_code, error = _post(head)
        done = timezone.now()
        mine = WebhookDelivery.objects.filter(pk=head.pk, status=D.PENDING, claimed_until=lease)
        if ok:
            mine.update(status=D.DELIVERED, delivered_at=done, claimed_until=None, last_status_code=status_code)
            metrics.webhook_deliveries_total.labels(outcome="delivered").inc()
            logger.info("webhook %s delivered", head.event, extra={"ticket_id": ticket_id, "delivery_id": head.id})
            delivered += 1
            continue
        attempts = head.attempts + 1
        delay = retry_delay(attempts)
        gave_up = done - head.created_at > WEBHOOK_RETRY_WINDOW
        mine.update(
            status=D.FAILED if gave_up else D.PENDING,
            next_attempt_at=done + delay,
            claimed_until=None,
            last_status_code=status_code,
            last_error=error,
        )
        metrics.webhook_deliveries_total.labels(outcome="gave_up" if gave_up else "failed").inc()
        logger.log(
            logging.WARNING if gave_up else logging.INFO,
            "webhook %s to %s failed (attempt %s%s): %s",
            head.event,
            head.integration.name,
            attempts,
            ", given up" if gave_up else "",
            error,
            extra={"ticket_id": ticket_id, "delivery_id": head.id},
        )
        if gave_up:
            continue  # the next event of the ticket may go now
        if delay.total_seconds() <= WEBHOOK_QUICK_RETRY_SECONDS:
            _deliver_on_commit(ticket_id, countdown=delay.total_seconds())
        return delivered
    _deliver_on_commit(ticket_id)  # more to send: continue in a fresh task run
    return delivered


def webhook_due_ticket_ids(*, limit: int = 500) -> list:
    """Tickets whose first pending delivery is due and not held by a worker."""
    now = timezone.now()
    earlier_pending = WebhookDelivery.objects.filter(
        ticket_id=OuterRef("ticket_id"), status=D.PENDING, seq__lt=OuterRef("seq")
    )
    return list(
        WebhookDelivery.objects.filter(status=D.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(~Exists(earlier_pending))  # only a ticket's head can be due; later rows wait behind it
        .order_by("ticket_id")
        .values_list("ticket_id", flat=True)
        .distinct()[:limit]
    )


def _deliver_in_thread(ticket_id) -> int:
    from django.db import connections

    try:
        return webhook_deliver_for_ticket(ticket_id=ticket_id)
    finally:
        connections.close_all()  # this thread's connections go back to the pool


def webhook_flush(*, budget_seconds: float = FLUSH_BUDGET_SECONDS) -> int:
    """Deliver every due head of every ticket: tickets in parallel (FLUSH_THREADS), each ticket's events
    in order (webhook_deliver_for_ticket), until nothing is due. Returns how many were delivered."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    delivered, deadline = 0, time.monotonic() + budget_seconds
    with ThreadPoolExecutor(max_workers=FLUSH_THREADS, thread_name_prefix="webhooks") as pool:
        while True:
            cache.delete(FLUSH_QUEUED_KEY)  # events committed from now on ask for another flush
            due = webhook_due_ticket_ids(limit=200)
            if not due:
                return delivered
            # Each thread runs in a copy of this task's context: its log lines name the task (core.log_context).
            runs = [(contextvars.copy_context(), ticket_id) for ticket_id in due]
            delivered += sum(pool.map(lambda run: run[0].run(_deliver_in_thread, run[1]), runs))
            if time.monotonic() > deadline:
                webhook_flush_request()  # the rest in a fresh task run
                return delivered


def webhook_sweep() -> int:
    """Ask for a flush when a delivery is due (a retry whose time came, a lost task, a worker that died
    mid-send). Run by beat every few seconds. Returns how many tickets have one due."""
    due = len(webhook_due_ticket_ids(limit=500))
    if due:
        webhook_flush_request()
    return due


@transaction.atomic
def webhook_redeliver(*, delivery_id, actor=None) -> WebhookDelivery:
    """Send a delivery again as soon as its turn comes (supervisor action), with the same id and body.

    A pending delivery is retried now instead of waiting for its backoff. Per-ticket order still holds:
    a redelivered event is sent only when no earlier event of its ticket is pending.
    """

    now = timezone.now()
    # A delivery being sent right now (an unexpired claim) is left to its worker.
    WebhookDelivery.objects.filter(pk=delivery_id).exclude(claimed_until__gt=now).update(
        status=D.PENDING, next_attempt_at=now, claimed_until=None
    )
    if not WebhookDelivery.objects.filter(pk=delivery_id).exists():
        raise NotFound("No such webhook delivery.")
    delivery = WebhookDelivery.objects.select_related("integration").get(pk=delivery_id)
    audit_record(actor=actor, action="webhook.redeliver", subject=delivery, data={"event": delivery.event})
    _deliver_on_commit(delivery.ticket_id)
    return delivery
