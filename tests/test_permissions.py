"""The authorization matrix, generated from the URL configuration.

Every API endpoint is called with no credentials (401) and as every role its permission classes do
not admit (403). A new endpoint must declare which roles it serves: one that does not fails here.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny, IsAuthenticated

from agents.permissions import _HasRole
from tests.conftest import client_with_token
from tests.factories import AgentFactory, UserFactory, integration_with_token

ROLES = ("agent", "supervisor", "finance", "integration")
# Endpoints any signed-in caller may use, each on purpose.
OPEN_TO_EVERY_ROLE = {"me"}
PUBLIC = {"auth-token"}


def api_endpoints():
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    for route, pattern in walk(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        if route.startswith("api/v1/") and view_class is not None:
            yield route, pattern.name, view_class


def concrete_path(route: str) -> str:
    path = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), route)
    path = re.sub(r"<(?:int:)?\w+>", "1", path)
    return "/" + path


def allowed_roles(view_class) -> set[str] | None:
    roles: set[str] = set()
    for permission in view_class.permission_classes:
        if isinstance(permission, type) and issubclass(permission, _HasRole):
            roles |= set(permission.roles)
    return roles or None


def methods_of(view_class) -> list[str]:
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]


ENDPOINTS = sorted(api_endpoints())


def test_the_matrix_covers_the_api():
    assert len(ENDPOINTS) >= 8


@pytest.mark.parametrize("route, name, view_class", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_every_endpoint_declares_who_may_use_it(route, name, view_class):
    if name in PUBLIC:
        assert AllowAny in view_class.permission_classes
        return
    roles = allowed_roles(view_class)
    if roles is None:
        assert name in OPEN_TO_EVERY_ROLE, f"{route} admits every signed-in caller; declare its roles"
        assert IsAuthenticated in view_class.permission_classes


@pytest.fixture
def callers(db):
    clients = {role: client_with_token(UserFactory(role=role)) for role in ("supervisor", "finance")}
    clients["agent"] = client_with_token(AgentFactory().user)
    from rest_framework.test import APIClient

    integration_client = APIClient()
    integration_client.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_with_token()[1]}")
    clients["integration"] = integration_client
    return clients


@pytest.mark.django_db
@pytest.mark.parametrize("route, name, view_class", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_no_credentials_is_401_and_wrong_role_is_403(route, name, view_class, api_client, callers):
    if name in PUBLIC:
        return
    path = concrete_path(route)
    roles = allowed_roles(view_class) or set(ROLES)
    for method in methods_of(view_class):
        response = getattr(api_client, method)(path, {}, format="json")
        assert response.status_code == 401, f"{method.upper()} {path} without credentials"
        for role in set(ROLES) - roles:
            response = getattr(callers[role], method)(path, {}, format="json")
            assert response.status_code == 403, f"{method.upper()} {path} as {role} gave {response.status_code}"
