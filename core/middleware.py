"""Request checks that hold for every view, before any view reads its input."""

import re
import time
import uuid

from django.http import HttpResponse, JsonResponse

from core import metrics
from core.limits import request_body_max_bytes, too_large_body
from core.log_context import log_bind, log_unbind


class NulCharactersRefusedMiddleware:
    """A NUL character in a query parameter -> 400 naming the parameter.

    PostgreSQL cannot hold NUL in text, so a search for one ends in a database error (a 500) in
    whichever view passes the parameter on. DRF's serializers already refuse NUL in request bodies;
    this does the same for the query string, once, for every view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = sorted(
            {name for name, values in request.GET.lists() if "\x00" in name or any("\x00" in v for v in values)}
        )
        if bad:
            errors = {name.replace("\x00", "\\0"): ["Null characters are not allowed."] for name in bad}
            return JsonResponse({**errors, "code": "invalid", "message": "Invalid input."}, status=400)
        return self.get_response(request)


class RequestBodyLimitMiddleware:
    """A request body over the limit (core.limits.request_body_max_bytes) -> 413, before anything reads it.

    Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when a view reads `request.body`; DRF's parsers read the
    stream instead, so without this a JSON body of any size would be parsed. The declared length is what
    is checked: Django reads no more than that of the stream. Under the ASGI server the same limit is kept
    before Django reads the body (core.limits.RequestBodyLimitASGI); this keeps it under WSGI and in tests.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = request_body_max_bytes()
        if length > limit:
            return HttpResponse(too_large_body(length, limit), status=413, content_type="application/json")
        return self.get_response(request)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Every HTTP request's duration, by method and status class, for dispatch_http_request_seconds."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in KNOWN_METHODS else "other"  # a client picks any word
        metrics.http_request_seconds.labels(method=method, status=f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response


REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
URL_IDS = ("ticket_id", "offer_id", "agent_id")


class RequestIdMiddleware:
    """Every request has an id: the proxy's X-Request-ID when it sends a sane one, else a new UUID. It is
    in every log line the request causes (core.log_context), with the ticket, offer or agent its URL
    names, and in the response's X-Request-ID, so a user's report finds its lines."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request.request_id = given if REQUEST_ID_SHAPE.match(given) else str(uuid.uuid4())
        token = log_bind(request_id=request.request_id)
        try:
            response = self.get_response(request)
        finally:
            log_unbind(token)  # undoes process_view's ids too
        response["X-Request-ID"] = request.request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        log_bind(**{name: view_kwargs[name] for name in URL_IDS if name in view_kwargs})
