"""Lock-out after repeated failed sign-ins, per username, on the login page and the token endpoint alike.

LOGIN_LOCKOUT_FAILURES wrong passwords within LOGIN_LOCKOUT_WINDOW_SECONDS lock the username for
LOGIN_LOCKOUT_SECONDS; while locked even the right password is refused, with the time to try again.
A successful sign-in clears the count. Counters live in Redis (core.ratelimit), shared by every
process. Unknown usernames are counted and locked the same way, so the answer never tells whether an
account exists; only locks of real accounts go to the audit log, where a supervisor sees them.
"""

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis import RedisError

from agents.models import Agent, User
from core.audit import audit_record
from core.ratelimit import RateLimited, identity_digest, window_count_increment, window_count_reset


class LoginLocked(RateLimited):
    def __init__(self, *, locked_until: dt.datetime):
        seconds = max(1, int((locked_until - timezone.now()).total_seconds()))
        self.locked_until = locked_until
        super().__init__(
            code="login_locked",
            retry_after_seconds=seconds,
            message=(
                "Too many failed sign-ins for this account. "
                f"Try again after {locked_until:%H:%M} UTC (in {-(-seconds // 60)} min)."
            ),
        )


def _failures_name(username: str) -> str:
    return f"login-failures:{identity_digest(username)}"


def _lock_key(username: str) -> str:
    return f"ratelimit:login-locked:{identity_digest(username)}"


def login_lockout_check(*, username: str) -> None:
    """Raises LoginLocked while `username` is locked out."""
    try:
        locked_until = cache.get(_lock_key(username))
    except RedisError:
        return  # see core.ratelimit: a cache outage does not lock everybody out
    if locked_until is not None and locked_until > timezone.now():
        raise LoginLocked(locked_until=locked_until)


def login_failure_record(*, username: str) -> LoginLocked | None:
    """Counts a wrong password for `username`; returns the lock when this failure set it off.

    Exactly one failure sees the count reach the threshold (the counter is an atomic INCR), so a burst
    of parallel wrong passwords locks once and writes one audit entry.
    """
    counted = window_count_increment(
        name=_failures_name(username), period_seconds=settings.LOGIN_LOCKOUT_WINDOW_SECONDS
    )
    if counted is None or counted.count != settings.LOGIN_LOCKOUT_FAILURES:
        return None
    locked_until = timezone.now() + dt.timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        cache.set(_lock_key(username), locked_until, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    except RedisError:
        return None
    window_count_reset(name=_failures_name(username))
    user = User.objects.filter(username=username).first()
    if user is not None:
        agent = Agent.objects.filter(user=user).first()
        audit_record(
            actor=None,
            action="auth.locked_out",
            subject=agent or user,
            reason=(
                f"{counted.count} failed sign-ins within {settings.LOGIN_LOCKOUT_WINDOW_SECONDS // 60} min; "
                f"locked until {locked_until:%Y-%m-%d %H:%M} UTC."
            ),
            # The subject names the person (by id); no copy of the username, which pseudonymisation replaces.
            data={"user_id": user.pk, "failures": counted.count, "locked_until": locked_until.isoformat()},
        )
    return LoginLocked(locked_until=locked_until)


def login_success_record(*, username: str) -> None:
    window_count_reset(name=_failures_name(username))
