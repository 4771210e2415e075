"""The algorithm notice on pages: its stored versions in the reader's language, and whether an agent has
a version they have not been shown yet (the console's banner)."""

from django import template
from django.utils import timezone

from actions import notice as notices
from actions.retention import recorded_period_text

register = template.Library()


@register.filter
def notice_change_lines(version) -> list[str]:
    """What changed in `version` against the one before it, one line per change."""
    return notices.change_lines(version.change_list)


@register.filter
def notice_text(text: str) -> str:
    return notices.notice_text(text)


@register.filter
def notice_kept(row: dict) -> str:
    """How long a row of the "what we record" table is kept."""
    return recorded_period_text(row)


@register.simple_tag
def algorithm_notice_unseen(agent) -> dict | None:
    """{"notice": the newest version `agent` has not been shown, "upcoming": whether it applies later},
    or None when they have seen it."""
    notice = notices.algorithm_notice_unseen(agent=agent) if agent else None
    if notice is None:
        return None
    return {"notice": notice, "upcoming": notice.effective_from > timezone.now()}
