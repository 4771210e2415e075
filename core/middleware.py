"""Request checks that hold for every view, before any view reads its input."""

from django.http import HttpResponse, JsonResponse

from core.limits import request_body_max_bytes, too_large_body


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
