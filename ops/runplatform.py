"""Start the whole platform as one group: every process of the Procfile (web, worker, beat, dispatcher).

    python -m ops.runplatform      (what `make run` calls)

Migrates (the Procfile's release step), seeds the demo data, starts the processes exactly as the Procfile
says (one web process unless WEB_CONCURRENCY says more), checks that a task round-trips through the
worker, prints where to go, and stops everything on Ctrl-C (or when any one process dies).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True)


def procfile_processes(path: Path = BASE_DIR / "Procfile") -> dict[str, str]:
    """The Procfile's processes, `name: command`, in order (the release step is not a process)."""
    processes = {}
    for line in path.read_text().splitlines():
        name, _, command = line.partition(":")
        if line.strip() and not line.lstrip().startswith("#") and name.strip() != "release":
            processes[name.strip()] = command.strip()
    return processes


def _start(name: str, command: str) -> subprocess.Popen:
    print(f"starting {name}: {command}", flush=True)
    # The commands say `python`: this virtual environment's, first on the PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.Popen(["sh", "-c", f"exec {command}"], cwd=BASE_DIR, env=env, start_new_session=True)


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


def _metrics_directory_fresh() -> None:
    """Every process writes its metrics under PROMETHEUS_MULTIPROC_DIR (core.metrics); a new start begins
    with an empty directory, as deploy/README.md asks of production."""
    directory = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(BASE_DIR / "var" / "prometheus")))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def main() -> int:
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("DEBUG", "true")
    _demo_debtor_unless_configured()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _manage("migrate", "--noinput", "-v", "0")
    _manage("seed_demo")
    os.environ["PORT"] = port
    os.environ.setdefault("HOST", "127.0.0.1")
    os.environ.setdefault("WEB_CONCURRENCY", "1")
    _metrics_directory_fresh()
    processes = {name: _start(name, command) for name, command in procfile_processes().items()}

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
