"""The agent's display preferences applied to a request: the console and the server's texts in the
language of their profile ("" = the browser's, which LocaleMiddleware already chose), times in the time
zone of their profile ("" = the browser's)."""

from django.utils import translation


def agent_display_preferences(user) -> tuple[str, str] | None:
    """(ui_language, time_zone) of the agent `user` is, or None for anyone else."""
    from agents.models import Role  # imported by the REST settings' authentication class, before apps load

    if not user.is_authenticated or user.role != Role.AGENT:
        return None
    agent = getattr(user, "agent", None)  # select_related with a bearer token; one query for a session
    if agent is None:
        return None
    return agent.ui_language, agent.time_zone


def agent_language_activate(request, user) -> None:
    """Answer in the agent's profile language when they chose one (the rest of the request, and the
    Content-Language header LocaleMiddleware writes from it)."""
    preferences = agent_display_preferences(user)
    if preferences and preferences[0]:
        translation.activate(preferences[0])
        request.LANGUAGE_CODE = preferences[0]
