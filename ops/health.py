import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "down", and we say which
        return f"{type(exc).__name__}: {exc}"


def _redis_ok() -> str | None:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


def healthz(request):
    problems = {name: error for name, error in (("database", _database_ok()), ("redis", _redis_ok())) if error}
    body = {"status": "ok" if not problems else "down", "database": "ok", "redis": "ok"}
    body.update({name: f"down: {error}" for name, error in problems.items()})
    return JsonResponse(body, status=503 if problems else 200)
