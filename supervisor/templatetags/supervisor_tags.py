"""Formatting for the supervisor's pages."""

from django import template
from django.utils.dateparse import parse_datetime

from supervisor.labels import event_label, human_label

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as '42 s', '4 min 10 s' or '2 h 5 min'; '–' when unknown."""
    if seconds is None or seconds == "":
        return "–"
    seconds = max(0, round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@register.filter
def percent(ratio) -> str:
    if ratio is None or ratio == "":
        return "–"
    return f"{float(ratio) * 100:.1f}%".replace(".0%", "%")


@register.filter
def get(mapping, key):
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def when(value):
    """An ISO string (timeline entries) as a datetime, for the `date` filter."""
    return parse_datetime(value) if isinstance(value, str) else value


@register.filter
def label(code) -> str:
    """A code ('handed_back', 'complex_case', 'ticket.reassigned', '(none)') as words in the reader's language."""
    return human_label(code)


@register.filter(name="event_label")
def event_label_filter(kind) -> str:
    """What happened in a timeline entry ('offered' -> 'Offered'), in the reader's language."""
    return event_label(kind)
