"""The fault suite's stack and bookkeeping.

One stack for the whole package: two uvicorn processes, a Celery worker and beat, all on a Redis
server this suite starts itself (so a test may stop and restart it) and on the test database. Other
live stacks of the session are stopped while it runs (their sweeps would act on our tickets and push
to sockets on another Redis) and started again afterwards. A test that kills a process leaves it dead;
the `fault_stack` fixture brings everything back before the next test.

Every test appends its figures to FIGURES; they are printed as a table at the end of the run.
"""

import os
import signal
import tempfile
from pathlib import Path

import pytest

from tests import live

FIGURES: list[dict] = []
FIGURE_COLUMNS = [
    ("fault", "fault"),
    ("faults_injected", "faults injected"),
    ("tickets_in_flight", "tickets in flight"),
    ("tickets_lost", "tickets lost"),
    ("duplicate_tickets", "duplicate tickets"),
    ("duplicate_pay_lines", "duplicate pay lines"),
    ("events_delivered", "events delivered"),
    ("events_duplicated", "events duplicated"),
]
# No fault test may hang CI: each is failed (with a traceback of where it waited) after this long.
TEST_TIME_LIMIT_SECONDS = 240


def record_figures(**figures) -> None:
    FIGURES.append(figures)


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    rows = [[str(row.get(key, "-")) for key, _ in FIGURE_COLUMNS] for row in FIGURES]
    headers = [title for _, title in FIGURE_COLUMNS]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    terminalreporter.section("fault suite figures")
    terminalreporter.write_line("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


@pytest.fixture(autouse=True)
def _time_limit():
    def fail(signum, frame):
        pytest.fail(f"fault test ran over its {TEST_TIME_LIMIT_SECONDS}s limit", pytrace=True)

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(TEST_TIME_LIMIT_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="package")
def _fault_stack_processes(django_db_setup, django_db_blocker):
    from django.db import connection

    log_dir = Path(tempfile.mkdtemp(prefix="fault-stack-"))
    others = [stack for stack in live.STACKS if stack.is_running()]
    for stack in others:
        stack.suspend()
    redis_server = live.ManagedRedis(log_dir=log_dir)
    redis_server.start()
    env = {
        **os.environ,
        "DATABASE_URL": live.database_url_for(connection.settings_dict),
        "REDIS_URL": redis_server.url(0),
        "DEBUG": "true",
        "CONN_MAX_AGE": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        "FAST_PASSWORD_HASHER": "true",
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    stack = live.LiveStack(env=env, log_dir=log_dir)
    stack.redis = redis_server
    try:
        stack.add_web()
        stack.add_web()
        stack.start_worker()
        stack.start_beat()
        stack.start_dispatcher()
        yield stack
    finally:
        stack.stop()
        redis_server.stop()
        live.STACKS.remove(stack)
        for other in others:
            other.resume()


@pytest.fixture
def fault_stack(_fault_stack_processes):
    """The package's stack with every process running (a previous test may have killed one)."""
    stack = _fault_stack_processes
    if not stack.redis.answers():
        stack.redis.start()
    stack.resume()
    yield stack
