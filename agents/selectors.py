from django.db.models import Prefetch, QuerySet

from agents.models import Agent, AgentSkill


def agent_list(*, search: str = "") -> QuerySet[Agent]:
    agents = Agent.objects.select_related("user").prefetch_related(
        "language_rows", Prefetch("skill_levels", queryset=AgentSkill.objects.select_related("skill"))
    )
    if search:
        agents = agents.filter(display_name__icontains=search) | agents.filter(user__username__icontains=search)
    return agents.order_by("display_name")


def agent_for_user(user) -> Agent | None:
    return agent_list().filter(user=user).first()


def agent_languages(agent: Agent) -> list[str]:
    return sorted(row.code for row in agent.language_rows.all())


def agent_skills(agent: Agent) -> dict[str, int]:
    return {row.skill.code: row.level for row in sorted(agent.skill_levels.all(), key=lambda r: r.skill.code)}


NOTIFICATION_DEFAULTS = {"sound": True, "browser_notification": True, "vibrate": True}


def notification_preferences(agent: Agent) -> dict:
    return {**NOTIFICATION_DEFAULTS, **(agent.notification_preferences or {})}
