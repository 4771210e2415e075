"""Query parameters checked before anything reaches the database: pages (`limit`, `offset`) of every list
endpoint, and bounded numbers and texts. A bad value is a 400 naming the parameter (core.errors.InvalidInput)."""

import datetime as dt
import re
from dataclasses import dataclass

from rest_framework import serializers

from core.errors import InvalidInput

PAGE_OFFSET_MAX = 100_000
PAGE_PARAMETERS = ("limit", "offset")


@dataclass(frozen=True)
class Pagination:
    """`limit` and `offset` of a list endpoint, checked before anything reaches the database.

    A list view declares `pagination = Pagination(default_limit=..., max_limit=...)` and answers
    `self.pagination.page(request, items)` (a queryset, sliced in SQL, or a list), or
    `self.pagination.page_from(request, fetch)` for a selector that takes a `limit` of its own.
    `limit` is 1..max_limit, `offset` 0..PAGE_OFFSET_MAX: anything else (not a whole number, negative,
    beyond PostgreSQL's bigint) is a 400 naming the parameter. The OpenAPI schema documents both from the
    same declaration (core.rest.pagination_document), so a client, the fuzzer and the docs see the same
    maxima.
    """

    default_limit: int = 100
    max_limit: int = 500

    def window(self, query_params) -> tuple[int, int]:
        """(limit, offset) from the query string, or InvalidInput naming each bad one."""
        errors, values = {}, {}
        bounds = {"limit": (1, self.max_limit, self.default_limit), "offset": (0, PAGE_OFFSET_MAX, 0)}
        for name, (least, most, default) in bounds.items():
            raw = query_params.get(name)
            if raw is None or raw == "":
                values[name] = default
                continue
            try:
                values[name] = serializers.IntegerField(min_value=least, max_value=most).run_validation(raw)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if errors:
            raise InvalidInput(errors)
        return values["limit"], values["offset"]

    def page(self, request, items):
        limit, offset = self.window(request.query_params)
        return items[offset : offset + limit]

    def page_from(self, request, fetch):
        """The page of a selector that takes its own `limit` (and may cap it): `fetch(limit=...)` is called
        with offset + limit and the first `offset` are skipped (a queryset still in SQL)."""
        limit, offset = self.window(request.query_params)
        return fetch(limit=offset + limit)[offset:]

    @staticmethod
    def filters(query_params):
        """The query string without `limit` and `offset`: what a view's own (strict) query serializer reads."""
        rest = query_params.copy()
        for name in PAGE_PARAMETERS:
            rest.pop(name, None)
        return rest

    def openapi_parameters(self) -> list[dict]:
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"at most this many (default {self.default_limit}, at most {self.max_limit})",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": f"skip this many first (default 0, at most {PAGE_OFFSET_MAX})",
                "schema": {"type": "integer", "minimum": 0, "maximum": PAGE_OFFSET_MAX, "default": 0},
            },
        ]


# ---------------------------------------------------------------- other query parameters

SEARCH_MAX_LENGTH = 200
QUERY_TEXT_MAX_LENGTH = 100


def query_text(request, name: str, *, max_length: int = SEARCH_MAX_LENGTH, default: str = "") -> str:
    """A free-text query parameter (a search, a filter value) of at most `max_length` characters, or a 400
    naming it. Filters compare against short columns; a longer value matches nothing anyway."""
    value = request.query_params.get(name, default)
    if len(value) > max_length:
        raise InvalidInput({name: [f"At most {max_length} characters."]})
    return value


def query_int(request, name: str, *, minimum: int, maximum: int, default: int) -> int:
    """A whole-number query parameter within [minimum, maximum], or a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return serializers.IntegerField(min_value=minimum, max_value=maximum).run_validation(raw)
    except serializers.ValidationError as exc:
        raise InvalidInput({name: exc.detail}) from exc


# ---------------------------------------------------------------- dates

DATE_MIN = dt.date(2000, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_bounds_check(day: dt.date, name: str) -> dt.date:
    """`day` if it lies in DATE_MIN..DATE_MAX, else a 400 naming `name`: a day near the calendar's end
    would overflow the arithmetic a period does (the day after the last)."""
    if not DATE_MIN <= day <= DATE_MAX:
        raise InvalidInput({name: [f"A day from {DATE_MIN} to {DATE_MAX}."]})
    return day


class StrictDateField(serializers.DateField):
    """A calendar day written YYYY-MM-DD (nothing else ISO 8601 allows, such as 20260101 or 2026-W01-1),
    from DATE_MIN to DATE_MAX."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DD")
        day = super().to_internal_value(value)
        if not DATE_MIN <= day <= DATE_MAX:
            raise serializers.ValidationError(f"A day from {DATE_MIN} to {DATE_MAX}.")
        return day
