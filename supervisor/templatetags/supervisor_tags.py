"""Formatting for the supervisor's pages."""

from django import template
from django.utils.dateparse import parse_datetime

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
    """'offer_accepted' / 'ticket.reassigned' as 'Offer accepted' / 'Ticket reassigned'."""
    return str(code).replace("_", " ").replace(".", " ").capitalize()
