"""Stacks of their own for the operations tests: processes started with settings of the test's choosing
(JSON logs, several web processes to restart), on a Redis server of their own and the test database."""

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests import live


@pytest.fixture
def own_stack(django_db_blocker):
    """`own_stack(env={...})`: a LiveStack on its own Redis; stopped (and its Redis) after the test."""
    from django.db import connection

    started = []

    def make(env: dict | None = None) -> live.LiveStack:
        log_dir = Path(tempfile.mkdtemp(prefix="ops-stack-"))
        redis_server = live.ManagedRedis(log_dir=log_dir)
        redis_server.start()
        stack_env = {
            **os.environ,
            "DATABASE_URL": live.database_url_for(connection.settings_dict),
            "REDIS_URL": redis_server.url(0),
            "DEBUG": "true",
            "CONN_MAX_AGE": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "FAST_PASSWORD_HASHER": "true",
            "WEBHOOK_RETRY_BASE_SECONDS": "1",
            "PRESENCE_HEARTBEAT_SECONDS": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(log_dir / "prometheus"),
            **(env or {}),
        }
        stack_env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        stack = live.LiveStack(env=stack_env, log_dir=log_dir)
        stack.redis = redis_server
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stack.stop()
        stack.redis.stop()
        live.STACKS.remove(stack)


def start_quiet_worker(stack: live.LiveStack) -> live.ManagedProcess:
    """The Procfile's worker (with --quiet: no banner, only log lines)."""
    stack.worker = live.ManagedProcess(
        "worker",
        [sys.executable, "-m", "celery", "-A", "config", "--quiet", "worker", "-Q", "dispatch,celery"]
        + ["--loglevel", stack.env.get("LOG_LEVEL", "INFO")]
        + ["--concurrency", "2", "--without-gossip", "--without-mingle", "--hostname", f"ops-{time.time_ns()}@%h"],
        stack.env,
        stack.log_dir / "worker.log",
    )
    stack.worker.start()
    live.wait_for_worker(stack.env, process=stack.worker)
    return stack.worker
