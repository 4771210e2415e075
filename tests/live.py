"""Real processes for the tests that need them: an ASGI server (uvicorn), a Celery worker and beat.

They run against the test database and the test Redis, exactly as in production, so a test that
talks to them over HTTP and websockets exercises the real deployment shape.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for(settings_dict: dict) -> str:
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            self.args, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class LiveStack:
    env: dict
    log_dir: Path
    web_workers: int = 1
    web: list[ManagedProcess] = field(default_factory=list)
    worker: ManagedProcess | None = None
    beat: ManagedProcess | None = None

    @property
    def base_url(self) -> str:
        return self.web_url(0)

    def web_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.web[index].env['PORT']}"

    def ws_url(self, index: int = 0, path: str = "/ws/agent/") -> str:
        return self.web_url(index).replace("http://", "ws://") + path

    def add_web(self) -> ManagedProcess:
        port = str(free_port())
        env = {**self.env, "PORT": port}
        server = ManagedProcess(
            f"web{len(self.web)}",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--ws",
                "websockets",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env,
            self.log_dir / f"web{len(self.web)}.log",
        )
        server.start()
        self.web.append(server)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", server)
        return server

    def start_worker(self) -> ManagedProcess:
        self.worker = ManagedProcess(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "dispatch,celery",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"test-worker-{time.time_ns()}@%h",
            ],
            self.env,
            self.log_dir / "worker.log",
        )
        self.worker.start()
        wait_for_worker(self.env)
        return self.worker

    def start_beat(self) -> ManagedProcess:
        self.beat = ManagedProcess(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.log_dir / "celerybeat-schedule"),
            ],
            self.env,
            self.log_dir / "beat.log",
        )
        self.beat.start()
        return self.beat

    def processes(self) -> list[ManagedProcess]:
        return [p for p in [*self.web, self.worker, self.beat] if p is not None]

    def stop(self) -> None:
        for process in self.processes():
            process.stop()


def wait_for_http(url: str, process: ManagedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout}s:\n{process.log_tail()}")


def wait_for_worker(env: dict, timeout: float = 60) -> None:
    """Block until a task round-trips through the worker (it is consuming the queue)."""
    from config.celery import ping_task

    ping_task.apply_async(args=["ready"]).get(timeout=timeout)
