"""Start the whole platform as one group: ASGI server, Celery worker and Celery beat.

    python -m ops.runplatform      (what `make run` calls)

Migrates, seeds the demo data, starts the three processes, checks that a task round-trips through the
worker, prints where to go, and stops everything on Ctrl-C (or when any one process dies).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True)


def _start(name: str, args: list[str]) -> subprocess.Popen:
    print(f"starting {name}: {' '.join(args)}", flush=True)
    return subprocess.Popen(args, cwd=BASE_DIR, start_new_session=True)


def _worker_round_trip(timeout_seconds: float = 60) -> float:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from config.celery import ping_task

    started = time.monotonic()
    assert ping_task.delay("pong").get(timeout=timeout_seconds) == "pong"
    return time.monotonic() - started


def _stop_processes(processes: dict) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    if not os.environ.get("REDIS_URL"):
        # The embedded Redis was started for this run (see config/embedded_redis.py): stop it too.
        from config.embedded_redis import stop_embedded_redis

        stop_embedded_redis(var_dir=BASE_DIR / "var")


# The debtor of the demo's SEPA files when none is configured: a valid IBAN and BIC, named so that nobody
# mistakes a file for a real payment order. Production sets PAYOUT_DEBTOR_* (README, configuration).
DEMO_DEBTOR = {
    "PAYOUT_DEBTOR_NAME": "DEMO DEBTOR - not a real account",
    "PAYOUT_DEBTOR_IBAN": "DE89370400440532013000",
    "PAYOUT_DEBTOR_BIC": "COBADEFFXXX",
}


def _demo_debtor_unless_configured() -> None:
    """Only when none of the variables is set: a partial configuration is an operator's mistake, and the
    export names what is missing rather than mixing in demo values."""
    if not any(os.environ.get(variable) for variable in DEMO_DEBTOR):
        os.environ.update(DEMO_DEBTOR)
        print(f"PAYOUT_DEBTOR_* not set: SEPA files debit the demo account {DEMO_DEBTOR['PAYOUT_DEBTOR_NAME']!r}.")


def main() -> int:
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("DEBUG", "true")
    _demo_debtor_unless_configured()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _manage("migrate", "--noinput", "-v", "0")
    _manage("seed_demo")
    python = sys.executable
    processes = {
        "web": _start(
            "web",
            [
                python,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                os.environ.get("HOST", "127.0.0.1"),
                "--port",
                port,
                "--ws",
                "websockets",
                "--no-access-log",
            ],
        ),
        "worker": _start(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "dispatch,celery",
                "--loglevel",
                os.environ.get("CELERY_LOG_LEVEL", "WARNING"),
                "--concurrency",
                "2",
            ],
        ),
        "beat": _start(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(BASE_DIR / "var" / "celerybeat-schedule"),
            ],
        ),
    }

    def stop_all(*_):
        _stop_processes(processes)

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        seconds = _worker_round_trip()
        print(f"\nA task went through the Celery worker and back in {seconds:.2f}s.")
        print(f"\nThe platform is up:  http://127.0.0.1:{port}/")
        print(f"  sign in:           http://127.0.0.1:{port}/login/")
        print("                     agent01..agent25, supervisor, finance; password: DEMO_PASSWORD (default 'demo')")
        print("                     (see README: 'Demo accounts')")
        print(f"  API docs:          http://127.0.0.1:{port}/api/docs/")
        print("Press Ctrl-C to stop everything.\n", flush=True)
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping the rest.", flush=True)
                    stop_all()
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        stop_all()
        return 0


if __name__ == "__main__":
    sys.exit(main())
