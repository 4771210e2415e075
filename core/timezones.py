"""Times in the viewer's time zone. The browser tells its zone in a cookie (set by a line of script on
the pages that use this); a page wrapped in `in_viewer_timezone` renders its times in that zone, and in
UTC until the browser has said (or when the cookie names no real zone)."""

import functools
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

TIMEZONE_COOKIE = "tz"


def viewer_timezone(request) -> ZoneInfo | None:
    # The pages' script writes it with encodeURIComponent ("Asia%2FTokyo"); Django does not decode it.
    name = unquote(request.COOKIES.get(TIMEZONE_COOKIE, ""))
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def in_viewer_timezone(view):
    """Render `view`'s response with the viewer's time zone active."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        zone = viewer_timezone(request)
        if zone is None:
            return view(request, *args, **kwargs)
        with timezone.override(zone):
            return view(request, *args, **kwargs)

    return wrapped
