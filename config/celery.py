import json
import logging
import os
import sys
import time
from datetime import UTC, datetime

from celery import Celery, signals
from celery.apps import worker as celery_worker_app
from celery.worker.consumer import Consumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

log = logging.getLogger(__name__)


class BrokerLossTolerantConsumer(Consumer):
    """The worker's consumer, surviving a lost broker connection while messages are unacknowledged.

    On a lost connection Celery first collects the connection (which takes its transport apart) and then
    closes it; with unacknowledged messages (every acks_late task in progress and every countdown,
    e.g. offer expiries) the close tries to hand them back through the dismantled transport and raises
    AttributeError, which Celery treats as unrecoverable: the worker shuts down after a Redis restart.
    The broken connection is gone either way, so carry on to the reconnect. What those messages did is
    repaired by the sweeps (overdue offers, queued tickets, lost pay), not by redelivery.
    """

    def on_connection_error_after_connected(self, exc):
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            log.warning("closing the lost broker connection failed; reconnecting anyway", exc_info=True)


def _say_as_json_line(msg, f=sys.__stderr__):
    """Celery's worker writes a few notices straight to the terminal from its signal handlers ("Warm
    shutdown"); with LOG_FORMAT=json they are JSON lines like the rest. os.write takes no lock, so this
    stays safe inside a signal handler, as Celery's own safe_say is."""
    line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "WARNING"}
    line.update(logger="celery.worker", message=str(msg))
    os.write((f or sys.__stderr__).fileno(), (json.dumps(line) + "\n").encode())


if os.environ.get("LOG_FORMAT") == "json":
    celery_worker_app.safe_say = _say_as_json_line


app = Celery("dispatch_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    worker_consumer="config.celery:BrokerLossTolerantConsumer",
    # Publishing a task subscribes to its result, and Celery's default retries that for 20 s when Redis
    # is down: a web request (an escalation, an accept) would hang that long. Give up after about a
    # second; the sweeps find whatever a task that could not be sent would have done.
    result_backend_transport_options={
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
    },
)
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def database_connections_checked(sender=None, **kwargs):
    """Around each task, what Django does around each request: give back a connection that is broken
    or past its age, keep a good one. Celery's own handling closes every connection, and with a
    connection pool the pool itself, before and after every task, so each task would start a new pool
    (threads and fresh PostgreSQL connections); settings.CELERY_DB_REUSE_MAX turns that off."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run inline by the caller, inside the caller's transaction
    from django.db import close_old_connections

    close_old_connections()


# When a task was published, in its message's headers: core.metrics measures each task's lag from it.
PUBLISHED_AT_HEADER = "dispatch_published_at"


@signals.before_task_publish.connect
def task_published_at_stamp(headers=None, **kwargs):
    if headers is not None:
        headers[PUBLISHED_AT_HEADER] = time.time()


@app.task(name="config.ping_task", ignore_result=False)
def ping_task(value: str) -> str:
    """Round-trips through the worker; /healthz?worker=1 and the run command's self-check use it."""
    return value
