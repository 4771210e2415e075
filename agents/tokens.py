"""Bearer tokens. Only a SHA-256 of each token is stored; the prefix says whose kind of token it is."""

import hashlib
import hmac
import secrets

from django.conf import settings

PERSON_PREFIX = "dpp_"
INTEGRATION_PREFIX = "dpi_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def demo_integration_token(name: str) -> str:
    """A stable token for a demo integration, so that seed_demo can print it again on every run."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"demo-integration:{name}".encode(), hashlib.sha256)
    return INTEGRATION_PREFIX + digest.hexdigest()[:40]
