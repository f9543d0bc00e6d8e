"""New York dates: the one clock every run, store key and schedule agrees on.

The original wrote results under the New York date and read them under the UTC date; here the
business date is always computed in ``America/New_York`` (daylight time included).
NYSE sessions and holidays are in ``orchestrator.data.calendar``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
MARKET_CLOSE = time(16, 0)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_york_date(moment: datetime) -> date:
    """The calendar date in New York at ``moment`` (an aware datetime)."""
    return moment.astimezone(NEW_YORK).date()


def close_of(day: date) -> datetime:
    """The regular close (16:00 New York) of ``day``, as an aware datetime."""
    return datetime.combine(day, MARKET_CLOSE, tzinfo=NEW_YORK)
