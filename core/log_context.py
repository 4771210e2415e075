"""Which request, task, ticket, offer or agent a log line concerns, and the JSON lines of LOG_FORMAT=json.

The ids travel in a context variable, bound where work enters a process: a request (its request id,
and the ticket, offer or agent of its URL; core.middleware), a Celery task (its id, name and the ids it
was given; the signals below), a websocket frame (core.sockets). asgiref and Celery carry the context
into the threads that run the services, so a line logged deep inside a service carries them too. A
line may name ids of its own with `extra={"ticket_id": ...}`.

JsonFormatter writes one JSON object a line. The IBAN filter (core.log_redaction) has already cleaned
the message and the traceback; the finished line is passed through it once more, bound values included.
"""

import inspect
import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime

from celery import signals

from core.log_redaction import iban_redact

ID_FIELDS = ("request_id", "task_id", "task", "ticket_id", "offer_id", "agent_id", "delivery_id")
# The ids a task's parameters may carry, by parameter name (tasks take ids: STYLE.md).
TASK_ID_PARAMETERS = {"ticket_id": "ticket_id", "offer_id": "offer_id", "agent_id": "agent_id", "offer_ids": "offer_id"}
MAX_ID_LENGTH = 100

_bound: ContextVar[dict] = ContextVar("log_context", default={})  # noqa: B039 - never mutated, replaced


def log_context() -> dict:
    return _bound.get()


def log_bind(**ids) -> Token:
    """Add ids to the context (None and empty values are left out); `log_unbind(token)` undoes it."""
    values = {key: _text(value) for key, value in ids.items() if value not in (None, "", [], ())}
    return _bound.set({**_bound.get(), **values})


def log_unbind(token: Token) -> None:
    _bound.reset(token)


@contextmanager
def log_bound(**ids):
    token = log_bind(**ids)
    try:
        yield
    finally:
        log_unbind(token)


def _text(value) -> str:
    if isinstance(value, list | tuple | set):
        return ",".join(str(item) for item in value)[:MAX_ID_LENGTH * 4]
    return str(value)[:MAX_ID_LENGTH]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the bound ids, the line's own ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_bound.get(),
        }
        for field in ID_FIELDS:
            value = getattr(record, field, None)
            if value not in (None, ""):
                entry[field] = _text(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return iban_redact(json.dumps(entry, default=str, ensure_ascii=False))


# --- Celery: every line a task logs names the task and the ids it was given ---------------------------

_task_tokens: dict[str, Token] = {}


@signals.task_prerun.connect(weak=False)
def _task_context_bind(task_id=None, task=None, args=None, kwargs=None, **_):
    ids = {"task_id": task_id, "task": getattr(task, "name", None)}
    try:
        arguments = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {})).arguments
    except (TypeError, ValueError):
        arguments = {}
    for parameter, field in TASK_ID_PARAMETERS.items():
        if parameter in arguments:
            ids[field] = arguments[parameter]
    _task_tokens[task_id] = log_bind(**ids)


@signals.task_postrun.connect(weak=False)
def _task_context_unbind(task_id=None, **_):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            log_unbind(token)
        except ValueError:  # bound in another context (a thread pool): it ends with that context
            pass
