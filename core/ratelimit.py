"""Request-rate limits and other short-lived counters, kept in Redis so every process shares them.

A counter is a fixed window that opens with its first hit: SET NX EX opens it, INCR counts, TTL says
when it closes, all three in one MULTI/EXEC. Any number of web processes hitting the same key each get
their own count, and a window always closes (no INCR on a key without an expiry).

Limits are named by scope (`login`, `token`, `intake`) and read from settings.RATE_LIMITS, e.g. "600/min".
When Redis cannot be reached the request is let through and a warning logged: refusing every sign-in
and every escalation because a cache is down would turn a Redis blip into an outage.
"""

import hashlib
import logging
import math
import re
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework import status
from rest_framework.throttling import BaseThrottle

from core.errors import DomainError

log = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"
PERIOD_SECONDS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "day": 86400}
RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    requests: int
    period_seconds: int


def rate_parse(text: str) -> Rate:
    """'600/min', '5/15min', '30/s', '1000/hour' -> Rate. A malformed rate is a configuration error."""
    match = RATE_PATTERN.match(text.lower())
    if not match or match.group(3) not in PERIOD_SECONDS:
        raise ValueError(f"Not a rate: {text!r}. Write it as <count>/<period>, e.g. '600/min' or '5/15min'.")
    count, multiple, unit = match.groups()
    return Rate(requests=int(count), period_seconds=int(multiple or 1) * PERIOD_SECONDS[unit])


@dataclass(frozen=True)
class WindowCount:
    count: int
    retry_after_seconds: int  # until the window closes


class RateLimited(DomainError):
    def __init__(self, *, retry_after_seconds: int, message: str = "", code: str = "rate_limited"):
        retry_after_seconds = max(1, math.ceil(retry_after_seconds))
        super().__init__(
            code,
            message or f"Too many requests. Try again in {retry_after_seconds} seconds.",
            http_status=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        self.retry_after_seconds = retry_after_seconds

    def as_dict(self) -> dict:
        return {**super().as_dict(), "retry_after_seconds": self.retry_after_seconds}


def _redis_key(name: str) -> tuple[redis.Redis, str]:
    key = cache.make_and_validate_key(f"{KEY_PREFIX}:{name}")
    # Django's cache API has no TTL or MULTI; its Redis client does, and uses the cache's own pool.
    return cache._cache.get_client(key, write=True), key


def identity_digest(value: str) -> str:
    """Keys never carry a username or address in clear, and stay short whatever the client sent."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def window_count_increment(*, name: str, period_seconds: int) -> WindowCount | None:
    """Counts one hit in the window `name`; None when Redis is unreachable (the caller lets it pass)."""
    try:
        client, key = _redis_key(name)
        with client.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=period_seconds, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = pipe.execute()
    except redis.RedisError as exc:
        log.warning("rate counter %s not counted, Redis unavailable: %s", name.split(":")[0], exc)
        return None
    return WindowCount(count=count, retry_after_seconds=ttl if ttl > 0 else period_seconds)


def window_count_reset(*, name: str) -> None:
    try:
        client, key = _redis_key(name)
        client.delete(key)
    except redis.RedisError as exc:
        log.warning("rate counter %s not reset, Redis unavailable: %s", name.split(":")[0], exc)


def rate_limit_check(*, scope: str, identity: str) -> None:
    """Counts one request of `identity` (a client address, an integration id) against the `scope`'s limit;
    raises RateLimited, carrying when to try again, once the window's allowance is spent."""
    rate = rate_parse(settings.RATE_LIMITS[scope])
    counted = window_count_increment(name=f"{scope}:{identity_digest(identity)}", period_seconds=rate.period_seconds)
    if counted is not None and counted.count > rate.requests:
        raise RateLimited(retry_after_seconds=counted.retry_after_seconds)


def rate_counters_clear() -> int:
    """Deletes every rate and lock-out counter (tests; an operator lifting limits by hand). Returns how many."""
    client, pattern = _redis_key("*")
    keys = list(client.scan_iter(match=pattern, count=1000))
    return client.delete(*keys) if keys else 0


def client_address(request) -> str:
    # REMOTE_ADDR, not X-Forwarded-For: a client can write any X-Forwarded-For it likes.
    return request.META.get("REMOTE_ADDR") or "unknown"


class RequestRateThrottle(BaseThrottle):
    """DRF face of rate_limit_check: `scope` names the limit, `identity()` whom it counts (the client's
    address unless a subclass says otherwise). Only the listed methods count."""

    scope = ""
    methods = frozenset({"POST"})

    def identity(self, request) -> str:
        return client_address(request)

    def allow_request(self, request, view) -> bool:
        if request.method in self.methods:
            # Raises RateLimited (a DomainError): the API's one exception handler answers 429 with Retry-After.
            rate_limit_check(scope=self.scope, identity=self.identity(request))
        return True


def throttle_for(scope: str, *, identity=None) -> type[RequestRateThrottle]:
    """A throttle class for `scope`, e.g. throttle_for("intake", identity=lambda request: ...)."""
    attributes = {"scope": scope}
    if identity is not None:
        attributes["identity"] = lambda self, request: identity(request)
    return type(f"RateThrottle_{scope}", (RequestRateThrottle,), attributes)
