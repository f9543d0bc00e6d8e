"""NYSE sessions and pre-market slots in New York time, from a maintained exchange calendar.

The original system wrote its schedule in UTC labelled "EST" (wrong half the year), stored
results under the New York date but read them under the UTC date, and ignored market holidays.
Everything here works in ``America/New_York`` wall-clock time and asks ``exchange_calendars``
(XNYS by default) which days are sessions and when they close. Differences between instants are
always taken in UTC: Python subtracts two datetimes that share a ``ZoneInfo`` as naive wall
times, which is an hour off across a daylight-saving change.

Early closes: pre-market slots fall before the 09:30 open, so a half day (e.g. the day after
Thanksgiving, close 13:00) still gets every pre-market slot; each slot carries the session's
close and an ``early_close`` flag so a run can say the session is short. A configured slot at or
after the session's close would be pointless and is dropped on that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

from orchestrator.common.clock import utc_now
from premarket.settings import Settings

CALENDAR_START = "2000-01-03"
FIRST_DAY = date.fromisoformat(CALENDAR_START)
CALENDAR_YEARS_AHEAD = 2
SETTLE = timedelta(minutes=30)
"""How long after the close a day's closing price is taken as final (closing auction prints)."""


def parse_slot_time(text: str) -> time:
    """``"06:30"`` -> ``time(6, 30)``, or a ValueError naming the slot."""
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"slot {text!r}: expected HH:MM, e.g. 06:30") from None


def out_of_range(day: date, today: date) -> str | None:
    """Why ``day`` is no date to replay or score up to (None: it is one): before the first
    session the calendar holds, or after today's New York date. The CLI and the API share it."""
    if day < FIRST_DAY:
        return f"{day} is before {FIRST_DAY}, the first session the calendar holds"
    if day > today:
        return f"{day} is after today ({today} in New York)"
    return None


@lru_cache(maxsize=4)
def _exchange_calendar(name: str, end_year: int) -> xc.ExchangeCalendar:
    return xc.get_calendar(name, start=CALENDAR_START, end=f"{end_year}-12-31")


@dataclass(frozen=True)
class Slot:
    """One scheduled run: a New York wall-clock time on one NYSE session."""

    business_date: date
    time: str
    at: datetime
    session_close: datetime
    early_close: bool

    @property
    def at_utc(self) -> datetime:
        return self.at.astimezone(UTC)


class TradingCalendar:
    """Sessions and pre-market slots of one exchange, in the exchange's local time."""

    def __init__(self, name: str = "XNYS", tz: str = "America/New_York") -> None:
        self.name = name
        self.tz = ZoneInfo(tz)

    def _calendar(self, day: date) -> xc.ExchangeCalendar:
        # Holidays are rules, so the calendar can be rebuilt further ahead when a date needs it.
        end_year = max(utc_now().year, day.year) + CALENDAR_YEARS_AHEAD
        return _exchange_calendar(self.name, end_year)

    def is_session(self, day: date) -> bool:
        """True when the exchange trades on ``day`` (weekends and holidays are not)."""
        return bool(self._calendar(day).is_session(pd.Timestamp(day)))

    def session_open(self, day: date) -> datetime:
        """The open of the session on ``day``, in the exchange's local time."""
        opened = self._calendar(day).session_open(pd.Timestamp(day))
        return opened.to_pydatetime().astimezone(self.tz)

    def session_close(self, day: date) -> datetime:
        """The close of the session on ``day``, in the exchange's local time."""
        close = self._calendar(day).session_close(pd.Timestamp(day))
        return close.to_pydatetime().astimezone(self.tz)

    def is_early_close(self, day: date) -> bool:
        """True on half days (e.g. 13:00 closes around Independence Day and Christmas)."""
        return pd.Timestamp(day) in self._calendar(day).early_closes

    def next_session(self, day: date) -> date:
        """The first session strictly after ``day``."""
        return self.sessions_after(day, 1)[0]

    def sessions_after(self, day: date, count: int) -> list[date]:
        """The next ``count`` sessions strictly after ``day``."""
        cal = self._calendar(day + timedelta(days=2 * count + 10))
        first = cal.date_to_session(pd.Timestamp(day + timedelta(days=1)), direction="next")
        return [ts.date() for ts in cal.sessions_window(first, count)]

    def sessions_back(self, day: date, count: int) -> list[date]:
        """The last ``count`` sessions up to and including ``day`` (or the session before it)."""
        cal = self._calendar(day)
        last = cal.date_to_session(pd.Timestamp(day), direction="previous")
        return [ts.date() for ts in cal.sessions_window(last, -count)]

    def made_before_open(self, day: date, moment: datetime) -> bool:
        """Whether ``moment`` (aware) was before the open of the session on ``day``: a
        pre-market forecast of that session (never true of a day without a session)."""
        if not self.is_session(day):
            return False
        return moment.astimezone(UTC) < self.session_open(day).astimezone(UTC)

    def business_date_at(self, moment: datetime) -> date:
        """The first session whose open is after ``moment``: the session a run started then can
        still trade from its open (the pre-market rule that runs, paper fills and accuracy share).
        A run on a weekend, a holiday or after the open is for the next session."""
        day = moment.astimezone(self.tz).date()
        if self.is_session(day) and moment.astimezone(UTC) < self.session_open(day).astimezone(UTC):
            return day
        return self.next_session(day)

    def last_closed_session(self, now: datetime, settle: timedelta = SETTLE) -> date:
        """The latest session whose close is final at ``now``.

        Quote feeds show today's bar while the session is open; scoring a forecast or marking a
        position with it would use an intraday price as if it were the close.
        """
        day = now.astimezone(self.tz).date()
        if self.is_session(day) and self.session_close(day) + settle <= now:
            return day
        return self.sessions_back(day - timedelta(days=1), 1)[0]

    def slots_on(self, day: date, times: list[str]) -> list[Slot]:
        """The slots of ``day`` in time order; none when the exchange is closed that day."""
        if not self.is_session(day):
            return []
        close = self.session_close(day)
        early = self.is_early_close(day)
        slots = []
        for text in sorted(times, key=parse_slot_time):
            at = datetime.combine(day, parse_slot_time(text), tzinfo=self.tz)
            if at.astimezone(UTC) < close.astimezone(UTC):
                slots.append(Slot(day, text, at, close, early))
        return slots

    def next_slot(self, after: datetime, times: list[str]) -> Slot:
        """The first slot strictly after the instant ``after``."""
        day = after.astimezone(self.tz).date()
        for _ in range(30):  # the longest NYSE closure since 1900 was days, not weeks
            for slot in self.slots_on(day, times):
                if slot.at_utc > after.astimezone(UTC):
                    return slot
            day += timedelta(days=1)
        raise ValueError(f"no {self.name} slot within 30 days after {after.isoformat()}")

    def due_slot(self, now: datetime, times: list[str], grace: timedelta) -> Slot | None:
        """The latest slot that started at most ``grace`` before ``now``, if any.

        A process started (or restarted, or woken by cron) a little after a slot still runs it;
        one started long after does not run a stale pre-market analysis.
        """
        instant = now.astimezone(UTC)
        due = [
            slot
            for slot in self.slots_on(now.astimezone(self.tz).date(), times)
            if slot.at_utc <= instant < slot.at_utc + grace
        ]
        return due[-1] if due else None


def calendar_of(settings: Settings) -> TradingCalendar:
    """The trading calendar the settings name (exchange and time zone)."""
    return TradingCalendar(settings.schedule.calendar, settings.schedule.timezone)
