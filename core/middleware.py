"""Request checks that hold for every view, before any view reads its input."""

import time

from django.http import JsonResponse

from core import metrics


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
