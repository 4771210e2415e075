"""Bad input anywhere gets a clear answer: every list endpoint pages with `limit` and `offset` from one place
(core.rest.Pagination), and a value out of bounds is a 400 naming the parameter, never a database error.

The walk finds list endpoints by asking: every GET route of the API is called by a role it admits, and
whatever answers a JSON array is a list endpoint. A list endpoint added without the pagination fails here.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from agents.models import Role
from core.query import PAGE_OFFSET_MAX, Pagination
from tests.security.test_api_fuzz import PLACEHOLDER_UUID, ROLES, callers, roles_admitted  # noqa: F401 - callers is a fixture

pytestmark = pytest.mark.django_db

HUGE = "9306828600568567158226080166313984"  # the fuzzer's find: beyond PostgreSQL's bigint
BAD_VALUES = {
    "huge": HUGE,
    "negative": "-1",
    "not a number": "ten",
    "a fraction": "1.5",
    "beyond the maximum": str(PAGE_OFFSET_MAX + 10**6),
}


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize("path", ["/api/v1/earnings/", "/api/v1/shift-guarantees/"])
@pytest.mark.parametrize("role", [Role.AGENT, Role.FINANCE])
def test_an_offset_beyond_the_database_range_is_a_400_naming_offset(callers, path, role):  # noqa: F811
    """Found by a fuzzing run with a fresh seed: both answered 500 (a DataError from PostgreSQL)."""
    tokens, _ = callers

    response = _client(tokens[role]).get(path, {"offset": HUGE})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body) == ["offset", "code", "message"]
    assert "less than or equal to 100000" in body["offset"][0]


def _api_get_routes():
    """(route template, view class) of every GET route under /api/v1/."""
    (api,) = [p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and "api/v1" in str(p.pattern)]
    for pattern in api.url_patterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.cls
        if hasattr(view, "get"):
            yield "/api/v1/" + str(pattern.pattern), view


def _fill(route: str, known_ids: dict) -> str:
    return re.sub(r"<uuid:(\w+)>", lambda m: known_ids.get(m.group(1), PLACEHOLDER_UUID), route)


def _list_endpoints(tokens: dict, known_ids: dict):
    """(path, client, view) of every GET that answers a JSON array to a role it admits."""
    found = []
    for route, view in _api_get_routes():
        path = _fill(route, known_ids)
        admitted = [role for role in ROLES if role in roles_admitted(path)]
        if not admitted:
            continue
        client = _client(tokens[admitted[0]])
        response = client.get(path)
        assert response.status_code < 500, f"{path}: {response.status_code}"
        if response.status_code == 200 and response["Content-Type"] == "application/json":
            if isinstance(response.json(), list):
                found.append((path, client, view))
    return found


def test_every_list_endpoint_refuses_bad_page_parameters_naming_them(callers):  # noqa: F811
    tokens, known_ids = callers
    endpoints = _list_endpoints(tokens, known_ids)
    assert len(endpoints) >= 15, [path for path, _, _ in endpoints]  # the whole API's lists, not a few

    problems = []
    for path, client, view in endpoints:
        if not isinstance(getattr(view, "pagination", None), Pagination):
            problems.append(f"{path}: answers a list but declares no `pagination = Pagination(...)`")
            continue
        for parameter in ("limit", "offset"):
            for what, value in BAD_VALUES.items():
                response = client.get(path, {parameter: value})
                if response.status_code != 400 or parameter not in response.json():
                    problems.append(f"{path}?{parameter}={value} ({what}): {response.status_code} {response.content!r}")
        over = view.pagination.max_limit + 1
        response = client.get(path, {"limit": over})
        if response.status_code != 400 or "limit" not in response.json():
            problems.append(f"{path}?limit={over}: {response.status_code}")
        response = client.get(path, {"limit": 1, "offset": 0})
        if response.status_code != 200 or len(response.json()) > 1:
            problems.append(f"{path}?limit=1: {response.status_code}, {len(response.json())} items")
        if client.get(path, {"offset": PAGE_OFFSET_MAX}).json() != []:
            problems.append(f"{path}?offset={PAGE_OFFSET_MAX}: not an empty page")
    assert problems == [], "\n".join(problems)


def test_the_schema_documents_each_list_endpoints_maxima(callers, api_client):  # noqa: F811
    tokens, known_ids = callers
    schema = api_client.get("/api/schema/?format=json").json()
    for path, _, view in _list_endpoints(tokens, known_ids):
        route = re.sub(r"[0-9a-f-]{36}", "{id}", path)
        (operation,) = [
            ops["get"] for documented, ops in schema["paths"].items() if re.sub(r"\{\w+\}", "{id}", documented) == route
        ]
        parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert parameters["limit"]["maximum"] == view.pagination.max_limit, path
        assert parameters["offset"]["maximum"] == PAGE_OFFSET_MAX, path


def test_a_page_is_the_slice_of_the_list_it_names(supervisor_client):
    from tests.factories import SkillFactory

    for code in ("alpha", "bravo", "charlie", "delta"):
        SkillFactory(code=code)

    page = supervisor_client.get("/api/v1/skills/", {"limit": 2, "offset": 1}).json()

    assert [skill["code"] for skill in page] == ["bravo", "charlie"]


@pytest.mark.parametrize(
    ("path", "parameter", "value"),
    [
        ("/api/v1/staffing/coverage/", "days", "0"),
        ("/api/v1/staffing/coverage/", "days", HUGE),
        ("/api/v1/quality/", "days", "a week"),
        ("/api/v1/pool/", "search", "x" * 201),
        ("/api/v1/pool/", "skill", "x" * 101),
        ("/api/v1/agents/", "search", "x" * 201),
        ("/api/v1/supervisor/tickets/", "search", "x" * 201),
        ("/api/v1/alerts/", "state", "x" * 101),
    ],
)
def test_other_query_parameters_out_of_bounds_are_a_400_naming_them(supervisor_client, path, parameter, value):
    response = supervisor_client.get(path, {parameter: value})

    assert response.status_code == 400
    assert parameter in response.json()


@pytest.mark.parametrize(
    ("path", "parameter", "value"),
    [
        # The day after the last: date arithmetic past year 9999 raised OverflowError (a 500).
        ("/api/v1/earnings/", "to", "9999-12-31"),
        ("/api/v1/earnings/", "from", "0001-01-01"),
        ("/api/v1/earnings/", "from", "20260101"),  # ISO 8601 allows it; the API documents YYYY-MM-DD
        ("/api/v1/earnings/", "to", "2026-W01-1"),
        ("/api/v1/coaching-export.jsonl", "to", "9999-12-31"),
        ("/api/v1/coaching-export.jsonl", "from", "9999-12-31T23:59:59-05:00"),
    ],
)
def test_a_day_outside_the_documented_range_or_format_is_a_400_naming_it(request, path, parameter, value):
    client = request.getfixturevalue("supervisor_client" if "coaching" in path else "finance_client")

    response = client.get(path, {parameter: value})

    assert response.status_code == 400
    assert parameter in response.json()
