import os
import tempfile
from pathlib import Path

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests import factories, live
from tests.live import LiveStack, database_url_for


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Production settings redirect to HTTPS; the test client speaks plain HTTP. PBKDF2 costs over a
    second per password on a small machine; the live processes get the same fast hasher."""
    settings.SECURE_SSL_REDIRECT = False
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def _forget_cached_dispatch_state():
    """Surge, the pool's median offer rate and the board snapshot are cached in Redis; a test starts
    without what an earlier test left (the Redis database itself stays: the live stack uses it)."""
    from django.core.cache import cache

    from dispatch.engine import POOL_MEDIAN_CACHE_KEY
    from dispatch.services import POOL_MEDIAN_FRESH_KEY
    from dispatch.surge import CACHE_KEY as SURGE_CACHE_KEY
    from supervisor.selectors import BOARD_CACHE_KEY

    cache.delete_many([SURGE_CACHE_KEY, POOL_MEDIAN_CACHE_KEY, POOL_MEDIAN_FRESH_KEY, BOARD_CACHE_KEY])


@pytest.fixture(scope="session", autouse=True)
def _flush_retries_when_a_live_process_holds_a_lock():
    """Transactional tests end with a TRUNCATE of every table. The live worker or server may still be
    finishing a transaction of that test (an expiry, a sweep), and PostgreSQL then resolves the lock
    conflict by aborting one side as a deadlock: when it picks the TRUNCATE, try again."""
    import time

    from django.core.management.base import CommandError
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except CommandError as exc:
                if "deadlock" not in f"{exc} {exc.__cause__}" or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    TransactionTestCase._fixture_teardown = _fixture_teardown
    yield
    TransactionTestCase._fixture_teardown = original


@pytest.fixture(scope="session", autouse=True)
def _empty_test_redis():
    """Start from an empty Redis: no queued task or channel message of an earlier run leaks in."""
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(scope="session", autouse=True)
def _sqlite_flush_lifts_append_only_triggers():
    """SQLite empties tables with DELETE between transactional tests, which the append-only triggers
    refuse; drop them around the flush (PostgreSQL uses TRUNCATE, which row triggers do not see)."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    DatabaseOperations = DatabaseWrapper.ops_class  # noqa: N806

    from core.append_only import APPEND_ONLY_TABLES, trigger_sql

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        guarded = [t for t in APPEND_ONLY_TABLES if t in tables]
        drops = [sql for t in guarded for sql in trigger_sql("sqlite", t)[1]]
        creates = [sql for t in guarded for sql in trigger_sql("sqlite", t)[0]]
        return [*drops, *statements, *creates]

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    in_marker = marker is not None and bool(marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    return in_marker or bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _live_processes_quiet_for_other_tests(request):
    """The session's live stack runs on between the tests that use it. Its dispatcher and beat act on
    whatever is committed to the test database, so a transactional test that does not use the stack
    (it runs the engine itself, when it wants) gets them stopped; the next live test starts them again."""
    if _is_transactional(request) and not {"live_stack", "fault_stack"} & set(request.fixturenames):
        for stack in live.STACKS:
            stack.quiet()
    yield


@pytest.fixture(scope="session")
def _live_stack_processes(django_db_setup, django_db_blocker):
    """One uvicorn server, one Celery worker and Celery beat against the test database, for the session.

    Tests that use it must be `@pytest.mark.django_db(transaction=True)`, so what they write is
    committed and visible to the other processes.
    """
    from django.db import connection

    log_dir = Path(tempfile.mkdtemp(prefix="live-stack-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "true",
        "CONN_MAX_AGE": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        "FAST_PASSWORD_HASHER": "true",
        # Webhook retries back off from 1 s instead of 10 s, so delivery tests finish quickly.
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
        # Sockets are marked alive every second, so a test sees it without waiting 15 s.
        "PRESENCE_HEARTBEAT_SECONDS": "1",
        # Beat settles ended shifts every 3 s instead of every 5 minutes.
        "SHIFT_GUARANTEE_CLOSE_SECONDS": "3",
        # The stack's processes write their metrics here; its web process adds them up at /metrics.
        "PROMETHEUS_MULTIPROC_DIR": str(log_dir / "prometheus"),
    }
    # Browser tests allow sync ORM calls next to Playwright's loop in *this* process; never in the servers.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    stack = LiveStack(env=env, log_dir=log_dir)
    try:
        stack.add_web()
        stack.start_worker()
        stack.start_beat()
        stack.start_dispatcher()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def live_stack(_live_stack_processes):
    """The session's stack with every process running (a test without it may have quietened it)."""
    _live_stack_processes.resume()
    return _live_stack_processes


@pytest.fixture
def api_client():
    return APIClient()


def client_with_token(user) -> APIClient:
    from agents.services import person_token_issue

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {person_token_issue(user=user)}")
    return client


@pytest.fixture
def supervisor(db):
    return factories.UserFactory(role="supervisor")


@pytest.fixture
def supervisor_client(supervisor):
    return client_with_token(supervisor)


@pytest.fixture
def finance_user(db):
    return factories.UserFactory(role="finance")


@pytest.fixture
def finance_client(finance_user):
    return client_with_token(finance_user)


@pytest.fixture
def agent(db):
    return factories.AgentFactory()


@pytest.fixture
def agent_client(agent):
    return client_with_token(agent.user)


@pytest.fixture
def integration_with_token(db):
    return factories.integration_with_token()


@pytest.fixture
def integration(integration_with_token):
    return integration_with_token[0]


@pytest.fixture
def integration_client(integration_with_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token[1]}")
    return client


class LockOrder:
    """The SQL a block ran, to prove a row was locked (SELECT ... FOR UPDATE) before it was written."""

    def __init__(self, capture):
        self.capture = capture

    def statements(self) -> list[str]:
        return [query["sql"] for query in self.capture.captured_queries]

    def assert_locked_before_write(self, table: str, pk) -> None:
        sql = self.statements()
        key = str(pk).replace("-", "")
        lock = next(
            (
                i
                for i, s in enumerate(sql)
                if "FOR UPDATE" in s and f'FROM "{table}"' in s and key in s.replace("-", "")
            ),
            None,
        )
        write = next(
            (i for i, s in enumerate(sql) if s.startswith(f'UPDATE "{table}"') and key in s.replace("-", "")), None
        )
        assert write is not None, f"no UPDATE of {table} {pk} in:\n" + "\n".join(sql)
        assert lock is not None and lock < write, f"{table} {pk} written before it was locked:\n" + "\n".join(sql)


@pytest.fixture
def lock_order():
    """Saleor's pattern: run the block inside `with lock_order.capture:`, then assert on the order."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    return LockOrder(CaptureQueriesContext(connection))


def pytest_report_header(config):
    from tests.security.fuzz_figures import SEED

    return f"fuzz seed: {SEED} (FUZZ_SEED={SEED} replays this run's fuzzing)"


def pytest_terminal_summary(terminalreporter):
    """The fuzzers' figures (seed, frames or cases, answers), so a run's closing note can quote them and a
    failure can be replayed with the seed."""
    from tests.security.fuzz_figures import FIGURES

    for name, figures in FIGURES.items():
        terminalreporter.section(name)
        for label, value in figures.items():
            terminalreporter.write_line(f"{label}: {value}")
