"""Pages and answers for an agent in the language and time zone of their profile."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from agents.display import agent_display_preferences, agent_language_activate
from core.timezones import viewer_timezone


class AgentDisplayPreferencesMiddleware:
    """After AuthenticationMiddleware (it needs the user) and LocaleMiddleware (whose choice from the
    browser it overrides when the agent's profile names a language). A bearer-token API call is
    authenticated later, by DRF: agents.authentication applies the language there."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        preferences = agent_display_preferences(request.user)
        if preferences is None:
            return self.get_response(request)
        agent_language_activate(request, request.user)
        if request.path.startswith("/api/"):
            # The API writes instants (ISO 8601 in UTC); the console's script shows them in the zone.
            return self.get_response(request)
        zone = _zone(preferences[1]) or viewer_timezone(request)
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # stored before the zone database dropped it
        return None
