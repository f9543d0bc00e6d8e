"""The one pre-market rule, as a run applies it: which session a run is for, which bars it may
read, and what it says when it started after the open (``TradingCalendar`` does the calendar).

A live run is for the first session whose open is after it started; it reads completed
sessions only; replays are for the session after their ``as_of``. Paper fills and accuracy read
the run's business date, so they follow the same rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from orchestrator.common.clock import NEW_YORK, new_york_date


def business_date_of(started: datetime, as_of: date | None) -> date:
    """The session a run is for: after ``as_of`` for a replay; for a live run the first
    session whose open is after the run started (``TradingCalendar.business_date_at``)."""
    from orchestrator.data.calendar import TradingCalendar  # exchange_calendars: ~1 s

    calendar = TradingCalendar()
    return calendar.next_session(as_of) if as_of is not None else calendar.business_date_at(started)


def last_closed(started: datetime) -> date:
    """The last session whose close was final when the run started."""
    from orchestrator.data.calendar import TradingCalendar

    return TradingCalendar().last_closed_session(started)


def after_the_open(started: datetime, business_date: date) -> str | None:
    """What a live run started on a session day after its open says: it trades nothing that
    session (its signals are for ``business_date``, and the session's own bar is not used)."""
    from orchestrator.data.calendar import TradingCalendar

    calendar, day = TradingCalendar(), new_york_date(started)
    if day == business_date or not calendar.is_session(day):
        return None
    if started.astimezone(UTC) >= calendar.session_close(day).astimezone(UTC):
        return None  # after the close: an evening run for the next session, nothing to say
    opened = calendar.session_open(day).strftime("%H:%M")
    return (
        f"started at {started.astimezone(NEW_YORK):%H:%M} New York, after the {day} open "
        f"({opened}): nothing is traded on {day}; the signals are for {business_date}"
    )


def fresh_since(business_date: date) -> date:
    """The NYSE session before the business date: a symbol whose last bar is older is stale."""
    from orchestrator.data.calendar import TradingCalendar

    return TradingCalendar().sessions_back(business_date - timedelta(days=1), 1)[0]
