"""One pre-market rule (issue 27, items 1-2): a run is for the first session whose open is after
it started, reads completed sessions only, and says so when it started after the open; slots at
or after the open are refused; a stored row whose date is not a session is skipped, not fatal."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from orchestrator_stubs import Recorder, YahooStub, make_settings, model_stubs

from orchestrator.data.calendar import TradingCalendar
from orchestrator.tracking.accuracy import counted
from premarket.settings import ScheduleSettings


@pytest.mark.parametrize(
    ("moment", "business_date"),
    [
        (datetime(2024, 7, 1, 12, 0, tzinfo=UTC), date(2024, 7, 1)),  # 08:00 New York
        (datetime(2024, 7, 1, 13, 29, tzinfo=UTC), date(2024, 7, 1)),  # 09:29
        (datetime(2024, 7, 1, 13, 30, tzinfo=UTC), date(2024, 7, 2)),  # 09:30: the open itself
        (datetime(2024, 7, 1, 19, 0, tzinfo=UTC), date(2024, 7, 2)),  # 15:00, the repro
        (datetime(2024, 7, 3, 23, 0, tzinfo=UTC), date(2024, 7, 5)),  # evening before a holiday
        (datetime(2024, 7, 6, 15, 0, tzinfo=UTC), date(2024, 7, 8)),  # Saturday
        (datetime(2024, 1, 2, 3, 0, tzinfo=UTC), date(2024, 1, 2)),  # 22:00 the day before (EST)
    ],
)
def test_the_business_date_is_the_first_session_opening_after_the_run(moment, business_date):
    assert TradingCalendar().business_date_at(moment) == business_date


@pytest.mark.parametrize("slot", ["09:10", "09:30", "10:00", "16:30"])
def test_slots_whose_grace_reaches_the_open_are_refused(slot: str) -> None:
    with pytest.raises(ValueError, match=f"slot '{slot}': pre-market slots must start"):
        ScheduleSettings(slots=["06:30", slot])
    assert ScheduleSettings(slots=["09:05"]).slots == ["09:05"]


def test_slots_off_the_five_minute_grid_are_refused() -> None:
    with pytest.raises(ValueError, match="slot '08:58': must be on a 5-minute mark"):
        ScheduleSettings(slots=["08:58"])


def _live_run(tmp_path: Path, monkeypatch, now: datetime):
    """A live run of ACME at ``now`` against a Yahoo stand-in whose last bar is ``now``'s day
    (while the session trades, Yahoo's daily chart already shows its partial bar)."""
    from orchestrator.data import market
    from orchestrator.jobs import analysis

    for module in (analysis, market):
        monkeypatch.setattr(module, "utc_now", lambda: now)
    today = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC) + timedelta(hours=13.5)
    days = [today - timedelta(days=k) for k in range(120, -1, -1)]
    bars = [
        (int(d.timestamp()), 100.0, 101.0 + i % 3, 99.0, 100.0 + i / 10, 1e6)
        for i, d in enumerate(x for x in days if x.weekday() < 5)
    ]
    yahoo = YahooStub({"ACME": bars}, {"ACME": "<rss><channel></channel></rss>"})
    with model_stubs() as services:
        slack = Recorder()
        try:
            settings = make_settings(
                tmp_path, services["tft"].url, services["nhits"].url, services["sentiment"].url
            )
            settings.yahoo_chart_url = yahoo.url + "/v8/finance/chart/{symbol}"
            settings.yahoo_rss_url = yahoo.url + "/rss/2.0/headline"
            return asyncio.run(analysis.run_analysis(settings, symbols=["ACME"]))
        finally:
            yahoo.stop()
            slack.stop()


def test_a_run_after_the_open_is_for_the_next_session_and_says_so(tmp_path, monkeypatch):
    result = _live_run(tmp_path, monkeypatch, datetime(2024, 7, 1, 19, 0, tzinfo=UTC))
    assert str(result.business_date) == "2024-07-02"  # never filled at 2024-07-01's open
    signal = result.signals["ACME"]
    assert str(signal.data_as_of) == "2024-06-28"  # the session still trading is not read
    assert signal.stale  # and without its close the run trades nothing
    (timing,) = [e for e in result.errors if e.stage == "timing"]
    assert "after the 2024-07-01 open" in timing.error and "for 2024-07-02" in timing.error


def test_a_run_after_the_close_reads_that_session_for_the_next(tmp_path, monkeypatch):
    result = _live_run(tmp_path, monkeypatch, datetime(2024, 7, 1, 21, 0, tzinfo=UTC))
    assert str(result.business_date) == "2024-07-02"
    assert str(result.signals["ACME"].data_as_of) == "2024-07-01"
    assert not result.signals["ACME"].stale and result.status == "ok"
    assert not [e for e in result.errors if e.stage == "timing"]  # an evening run: nothing to say


def test_a_weekend_run_is_for_monday(tmp_path, monkeypatch):
    result = _live_run(tmp_path, monkeypatch, datetime(2024, 7, 6, 15, 0, tzinfo=UTC))
    assert str(result.business_date) == "2024-07-08"
    assert not [e for e in result.errors if e.stage == "timing"]


def test_a_stored_row_of_a_day_without_a_session_is_skipped(caplog) -> None:
    rows = [
        {"id": 1, "symbol": "AAPL", "business_date": date(2024, 7, 6), "tier": "tft",
         "mode": "live", "created_at": datetime(2024, 7, 6, 15, 0)},
        {"id": 2, "symbol": "AAPL", "business_date": date(2024, 7, 8), "tier": "tft",
         "mode": "live", "created_at": datetime(2024, 7, 8, 11, 0)},
    ]  # fmt: skip
    kept = counted(rows, TradingCalendar())
    assert [r["id"] for r in kept] == [2]
    assert "2024-07-06 is not a session" in caplog.text


def test_a_timing_note_is_never_the_cause_of_a_failure() -> None:
    import run_documents as documents

    from orchestrator.documents.run import RunError

    run = documents.make_run("r", "2024-07-02", "2024-07-01T19:00:00.000Z", status="failed")
    run.errors = [
        RunError(symbol="*", stage="timing", error="started after the 2024-07-01 open"),
        RunError(symbol="AAPL", stage="market_data", error="AAPL: Yahoo chart API: 503"),
    ]
    assert run.cause == "AAPL: Yahoo chart API: 503"
