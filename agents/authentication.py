from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from agents.display import agent_language_activate
from agents.tokens import INTEGRATION_PREFIX, PERSON_PREFIX, token_hash


def user_for_bearer_token(token: str):
    """The user a bearer token stands for (an integration acts as its service user), or None."""
    from agents.models import Integration, PersonToken, user_role_subquery

    digest = token_hash(token)
    if token.startswith(INTEGRATION_PREFIX):
        holder = Integration.objects.filter(token_hash=digest)
    elif token.startswith(PERSON_PREFIX):
        # An agent's requests and socket nearly all need their agent row: read it with the token.
        holder = PersonToken.objects.filter(key_hash=digest).select_related("user__agent")
    else:
        return None
    holder = holder.select_related("user").annotate(user_role=user_role_subquery("user_id")).first()
    if holder is None or not holder.user.is_active:
        return None
    holder.user.role = holder.user_role or ""
    return holder.user


def bearer_token_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        token = bearer_token_from_header(header)
        if token is None:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        user = user_for_bearer_token(token)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        # Middleware ran before this user was known: answer an agent in their profile's language now.
        agent_language_activate(request._request, user)
        return user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "agents.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /api/v1/auth/token/ (people) or given when the integration was created.",
        }
