"""Calendar arithmetic the apps share. Pay periods and 'today' are UTC days: the ledger's boundaries
must not move with a viewer's time zone (pages convert times for display, never these)."""

import datetime as dt


def utc_day_start(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of `day`."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
