"""Intake throughput: requests/s for POST /api/v1/tickets/ (each request a new escalation).

Against a server that is already running:

    python scripts/bench_intake.py --url http://127.0.0.1:8000 --token dpi_... [--requests 1000 --concurrency 8]

Or let the script start the server itself, in both shapes, and print one line for each:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dispatch_bench REDIS_URL=redis://127.0.0.1:6379/4 \
        python scripts/bench_intake.py --launch

--launch migrates that database, creates an integration `bench-<random>` and the skill `payments`, then
runs uvicorn (a) as one process with DEBUG=true and (b) as in production: `--workers 2`, DEBUG=false
(requests carry X-Forwarded-Proto: https, as behind the TLS proxy production expects). No Celery worker
is started: each intake still enqueues its dispatch task in Redis, so point REDIS_URL at a scratch
database. Every request is a realistic escalation with a four-entry transcript and a unique external_id.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent


def escalation(external_id: str) -> dict:
    at = "2026-11-21T10:00:00+01:00"
    return {
        "external_id": external_id,
        "customer": {"ref": "c-42", "display_name": "Anna", "tier": "standard", "vulnerable": False},
        "language": "de",
        "skills": ["payments"],
        "reason": "customer_request",
        "priority": 2,
        "sentiment": -0.6,
        "summary": "Double charge on order 1234, customer upset",
        "handoff": {
            "bot_confidence": 0.31,
            "attempted": ["kb:refund-policy", "tool:order-lookup"],
            "verified_facts": {"order_id": "1234", "identity_checked": True},
            "suggested_next_step": "refund one of the two charges",
        },
        "transcript": [
            {"role": "customer", "text": "I was charged twice for order 1234.", "at": at},
            {"role": "bot", "text": "I can see two payments. Let me check the refund policy.", "at": at},
            {"role": "customer", "text": "I want to talk to a person, now.", "at": at},
            {"role": "bot", "text": "Of course, I am getting a colleague.", "at": at},
        ],
    }


def run(url: str, token: str, *, requests: int, concurrency: int, warmup: int = 20) -> dict:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
    endpoint = url.rstrip("/") + "/api/v1/tickets/"
    run_id = uuid.uuid4().hex[:8]
    with httpx.Client(headers=headers, timeout=30) as client:
        for n in range(warmup):
            client.post(endpoint, json=escalation(f"warm-{run_id}-{n}")).raise_for_status()

    latencies: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker():
        with httpx.Client(headers=headers, timeout=30) as client:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                started = time.perf_counter()
                try:
                    code = client.post(endpoint, json=escalation(f"bench-{run_id}-{n}")).status_code
                except httpx.HTTPError:
                    code = 0
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    codes[code] = codes.get(code, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "concurrency": concurrency,
        "seconds": round(wall, 2),
        "requests_per_second": round(requests / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "status_codes": codes,
    }


def _django_setup():
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)


def _prepare() -> str:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, check=True)
    _django_setup()
    from agents.models import Skill
    from agents.services import integration_create

    Skill.objects.get_or_create(code="payments", defaults={"name": "Payments"})
    _, token = integration_create(name=f"bench-{uuid.uuid4().hex[:8]}")
    return token


def _serve(port: int, *, workers: int, debug: bool) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "true" if debug else "false", "CONN_MAX_AGE": "60"}
    args = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--no-access-log", "--log-level", "warning", "--workers", str(workers)]
    process = subprocess.Popen(args, cwd=BASE_DIR, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Forwarded-Proto": "https"}).status_code < 500:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start")


def _stop(process: subprocess.Popen) -> None:
    import signal

    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", help="an integration token (not needed with --launch)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--launch", action="store_true", help="start uvicorn itself in both shapes")
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()

    if not options.launch:
        if not options.token:
            parser.error("--token is required unless --launch is given")
        print(run(options.url, options.token, requests=options.requests, concurrency=options.concurrency))
        return 0

    token = _prepare()
    database = os.environ.get("DATABASE_URL", "sqlite (default)").split("@")[-1]
    print(
        f"database: {database}  cores: {os.cpu_count()}  requests: {options.requests}  "
        f"concurrency: {options.concurrency}"
    )
    for label, workers, debug in (("single process, DEBUG=true ", 1, True), ("--workers 2, DEBUG=false", 2, False)):
        server = _serve(options.port, workers=workers, debug=debug)
        try:
            result = run(
                f"http://127.0.0.1:{options.port}", token, requests=options.requests, concurrency=options.concurrency
            )
        finally:
            _stop(server)
        print(
            f"{label}: {result['requests_per_second']} req/s  p50 {result['p50_ms']} ms  "
            f"p95 {result['p95_ms']} ms  codes {result['status_codes']}  ({result['seconds']} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
