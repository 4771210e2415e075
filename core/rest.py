"""Shared pieces of the REST layer."""

from rest_framework import serializers
from rest_framework.parsers import JSONParser

from core.limits import JSON_DEPTH_MAX, json_too_deep


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming them, instead of silently ignoring them."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        value = super().to_internal_value(data)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return value


def _nul_paths(value, path: str = "") -> list[str]:
    """Where in a parsed JSON document a NUL character sits, as dotted paths ('handoff.verified_facts.x')."""
    if isinstance(value, str):
        return [path or "non_field_errors"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(child.replace("\x00", "\\0"))
            else:
                found += _nul_paths(item, child)
        return found
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _nul_paths(item, f"{path}.{i}" if path else str(i))]
    return []


class JSONParserRefusingNul(JSONParser):
    """JSON bodies with a NUL character anywhere, keys included -> 400 naming where; JSON nested deeper
    than JSON_DEPTH_MAX -> 400.

    PostgreSQL cannot hold NUL in text or jsonb; DRF's CharField refuses it, but free-form JSON
    (a ticket's handoff, skill maps) would reach the database and fail there with a 500. Deep nesting is
    checked first (without recursion): the NUL walk recurses, and so does Python's JSON parser, whose
    RecursionError near 1,000 levels DRF would answer with a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = serializers.ValidationError(
            {"non_field_errors": [f"JSON may nest objects and arrays at most {JSON_DEPTH_MAX} levels deep."]}
        )
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if json_too_deep(data):
            raise too_deep
        bad = _nul_paths(data)
        if bad:
            raise serializers.ValidationError({path: ["Null characters are not allowed."] for path in bad})
        return data


ERROR_RESPONSES = {
    "400": "Bad input: the body names each bad field (nothing is stored).",
    "401": "No credentials, or a token that is wrong or revoked (on the token endpoint: wrong username or password).",
    "403": "The caller's role may not do this.",
    "404": "No such object, or not one the caller may see.",
    "409": "The object's current state does not allow this (e.g. an offer no longer open).",
    "429": "Too many requests, or a sign-in locked after repeated failures: try again after Retry-After seconds.",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "`code` and `message`; for bad input also one entry per bad field, named by the field.",
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "detail": {"type": "string"},
        "retry_after_seconds": {"type": "integer"},
    },
    "additionalProperties": True,
}
UNSAFE_METHODS = ("post", "put", "patch", "delete")


def pagination_document(operation: dict, view) -> None:
    """The page parameters of a paginated view's GET, replacing any it declared by hand."""
    pagination = getattr(view, "pagination", None)
    if pagination is None:
        return
    parameters = [p for p in operation.get("parameters", []) if p.get("name") not in ("limit", "offset")]
    operation["parameters"] = parameters + pagination.openapi_parameters()


def error_responses_document(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the errors it can answer with.

    Which ones follow from how the view is built, so a new endpoint is documented without anyone
    remembering to: 401 everywhere (the token endpoint answers wrong credentials with it), 403 unless
    the view admits anyone, 400 where there is input (a body, query parameters), 404 where the path
    names an object, 409 where a write meets a state that refuses it, 429 where a throttle is set.
    An operation's own description of a status is kept.
    """
    from rest_framework.permissions import AllowAny

    views = {(path, method.lower()): callback.cls for path, _regex, method, callback in generator.endpoints}
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            view = views.get((path, method))
            if view is None:
                continue
            if method == "get":
                pagination_document(operation, view)
            parameters = operation.get("parameters", [])
            statuses = {"401"}
            if not all(permission is AllowAny for permission in view.permission_classes):
                statuses.add("403")
            if method in UNSAFE_METHODS or any(p.get("in") == "query" for p in parameters):
                statuses.add("400")
            if any(p.get("in") == "path" for p in parameters):
                statuses.add("404")
            if method in UNSAFE_METHODS:
                statuses.add("409")
            if view.throttle_classes:
                statuses.add("429")
            responses = operation.setdefault("responses", {})
            for code in sorted(statuses - set(responses)):
                responses[code] = {
                    "description": ERROR_RESPONSES[code],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
    return result
