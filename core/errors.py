"""The one domain error type, and its mapping to HTTP.

Services raise DomainError with a stable `code`; the REST layer turns it into a JSON response here and
the websocket consumer turns it into an `error` frame. Nothing else decides status codes for
business-rule refusals.
"""

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    http_status = status.HTTP_409_CONFLICT

    def __init__(self, code: str, message: str, *, http_status: int | None = None, fields=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        if http_status is not None:
            self.http_status = http_status

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.fields:
            body["errors"] = self.fields
        return body


class NotFound(DomainError):
    def __init__(self, message: str = "Not found."):
        super().__init__("not_found", message, http_status=status.HTTP_404_NOT_FOUND)


class InvalidInput(DomainError):
    """Bad input discovered inside a service (after the serializer passed), e.g. an unknown skill."""

    def __init__(self, fields: dict, message: str = "Invalid input."):
        super().__init__("invalid", message, http_status=status.HTTP_400_BAD_REQUEST, fields=fields)

    def as_dict(self) -> dict:
        return {**self.fields, "code": self.code, "message": self.message}


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        response = Response(exc.as_dict(), status=exc.http_status)
        retry_after_seconds = getattr(exc, "retry_after_seconds", None)
        if retry_after_seconds is not None:
            response["Retry-After"] = str(retry_after_seconds)
        return response
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = exception_handler(exc, context)
        # Session-authenticated requests make DRF answer 403; the contract says no credentials -> 401.
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return exception_handler(exc, context)
