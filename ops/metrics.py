"""GET /metrics: the Prometheus text exposition of the whole host (CONTRACT.md "Operations").

What the processes counted (core.metrics) is read from PROMETHEUS_MULTIPROC_DIR, where every web
process, worker and dispatcher of the host writes; what describes the database's state (the queue by
language, agents by presence, offers pending) and the task queues' lengths are read at scrape time, so
each web process answers the same. Scrape every web process of every host (or one per host: they read
the same directory) and sum by host in Prometheus.

Readable with `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set; without it, from
127.0.0.1 (or ::1) only.
"""

import glob
import hmac
import os
import re

import redis
from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from agents.models import Agent
from dispatch.models import Offer, OfferStatus
from tickets.models import Ticket, TicketStatus

LOOPBACK = {"127.0.0.1", "::1"}
CELERY_QUEUES = ("dispatch", "celery")
# kombu's Redis transport keeps a queue's priorities in separate lists: "<queue>" and "<queue>\x06\x16<n>".
CELERY_PRIORITY_STEPS = (3, 6, 9)


def _refused(request) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        response = JsonResponse(
            {"code": "not_authenticated", "message": "Send Authorization: Bearer <METRICS_TOKEN>."}, status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.META.get("REMOTE_ADDR") in LOOPBACK:
        return None
    return JsonResponse(
        {
            "code": "permission_denied",
            "message": "Without METRICS_TOKEN set, /metrics answers only requests from 127.0.0.1.",
        },
        status=403,
    )


class DatabaseStateCollector:
    """Gauges read from PostgreSQL and Redis when scraped: the same truth from every process."""

    def collect(self):
        queue = GaugeMetricFamily(
            "dispatch_queue_length", "Tickets waiting in the queue, by language.", labels=["language"]
        )
        waiting = {code: 0 for code, _ in settings.LANGUAGES}  # the site's languages, even when empty
        waiting.update(
            Ticket.objects.filter(status=TicketStatus.QUEUED).values_list("language").annotate(n=Count("pk")).order_by()
        )
        for language, count in sorted(waiting.items()):
            queue.add_metric([language or ""], count)
        yield queue

        agents = GaugeMetricFamily(
            "dispatch_agents", "Active agents by presence (online, away, offline).", labels=["presence"]
        )
        counts = dict(
            Agent.objects.filter(status=Agent.Status.ACTIVE)
            .values_list("presence")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for presence in Agent.Presence.values:
            agents.add_metric([presence], counts.get(presence, 0))
        yield agents

        yield GaugeMetricFamily(
            "dispatch_offers_pending",
            "Offers made and not answered yet.",
            value=Offer.objects.filter(status=OfferStatus.PENDING).count(),
        )

        tasks = GaugeMetricFamily(
            "dispatch_task_queue_length", "Celery tasks waiting in the broker, by queue.", labels=["queue"]
        )
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            with client.pipeline(transaction=False) as pipe:
                for name in CELERY_QUEUES:
                    pipe.llen(name)
                    for step in CELERY_PRIORITY_STEPS:
                        pipe.llen(f"{name}\x06\x16{step}")
                lengths = pipe.execute()
            per_queue = len(CELERY_PRIORITY_STEPS) + 1
            for index, name in enumerate(CELERY_QUEUES):
                tasks.add_metric([name], sum(lengths[index * per_queue : (index + 1) * per_queue]))
        except redis.RedisError:
            pass  # Redis down: no figure rather than a wrong one (/healthz says why)
        finally:
            client.close()
        yield tasks


_DEAD_FILE = re.compile(r"_(\d+)\.db$")


def _forget_dead_processes(directory: str) -> None:
    """Live gauges (sockets open) of a process that is gone no longer count, however it ended."""
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _DEAD_FILE.search(path)
        if not match:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except PermissionError:
            pass  # alive, someone else's


def metrics_text() -> bytes:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        _forget_dead_processes(directory)
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes, path=directory)
    else:
        processes = REGISTRY
    state = CollectorRegistry()
    state.register(DatabaseStateCollector())
    return generate_latest(processes) + generate_latest(state)


def metrics(request):
    refused = _refused(request)
    if refused is not None:
        return refused
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
