"""Websocket handshake authentication: a session cookie (browsers) or `Authorization: Bearer` (scripts).

Browsers always send an Origin header, so a handshake with an Origin must come from an allowed host
(this stops another site from opening a socket with the agent's cookie). Programs send no Origin and
must then present a bearer token.
"""

from urllib.parse import urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from agents.authentication import bearer_token_from_header, user_for_bearer_token


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def origin_allowed(origin: str) -> bool:
    host = urlparse(origin).netloc.lower()
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG:
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return validate_host(hostname, allowed) or validate_host(host, allowed)


class BearerOrSessionMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        token = bearer_token_from_header(_header(scope, b"authorization"))
        origin = _header(scope, b"origin")
        if token is not None:
            user = await database_sync_to_async(user_for_bearer_token)(token)
            scope["user"] = user or AnonymousUser()
        elif origin is None or not origin_allowed(origin):
            scope["user"] = AnonymousUser()
        return await self.inner(scope, receive, send)


def WebsocketAuthStack(inner):  # noqa: N802 - mirrors channels' AuthMiddlewareStack
    return AuthMiddlewareStack(BearerOrSessionMiddleware(inner))
