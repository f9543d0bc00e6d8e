"""Accuracy scoring: stored forecasts against the closes that followed them."""

from __future__ import annotations

import asyncio
import csv
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from test_api import make_settings, serving

from orchestrator.api.app import create_app
from orchestrator.data.calendar import TradingCalendar
from orchestrator.data.market import OfflineMarketData
from orchestrator.jobs.analysis import run_analysis
from orchestrator.storage.store import Store
from orchestrator.tracking.accuracy import (
    AccuracyLedger,
    Score,
    counted,
    score_forecast,
    score_pending,
    targets_of,
)
from orchestrator.tracking.accuracy_report import _daily_axis, accuracy_document, plot, rolling
from premarket.data import PRICES_CSV

CAL = TradingCalendar()


def forecast_row(**overrides) -> dict:
    row = {
        "id": 1,
        "run_id": "r1",
        "business_date": date(2024, 7, 5),
        "as_of": date(2024, 7, 3),
        "symbol": "AAPL",
        "tier": "tft",
        "current_price": 100.0,
        "predicted_price": 102.0,
        "p10": 98.0,
        "p50": 102.0,
        "p90": 104.0,
        "forecast_path": [102.0, 101.0, 100.5, 99.0, 97.0],
        "direction": "UP",
    }
    return row | overrides


def test_targets_skip_the_holiday_and_count_sessions() -> None:
    targets = targets_of(forecast_row(), CAL)  # as of Wed 3 July 2024, a half day
    assert targets == {
        "next_day": (date(2024, 7, 5), 1),  # the 4th is a holiday
        "horizon": (date(2024, 7, 11), 5),
        "seven_day": (date(2024, 7, 10), 4),  # the last session within 7 calendar days
    }
    one_day = targets_of(forecast_row(forecast_path=[102.0]), CAL)
    assert one_day == {"next_day": (date(2024, 7, 5), 1), "seven_day": (date(2024, 7, 5), 1)}


def test_scores_of_a_known_forecast() -> None:
    up = score_forecast(forecast_row(), "next_day", (date(2024, 7, 5), 1), 103.0)
    assert (up.direction_hit, up.in_band) == (True, True)
    assert up.abs_pct_error == pytest.approx(100 * 1 / 103)
    down = score_forecast(forecast_row(), "next_day", (date(2024, 7, 5), 1), 97.0)
    assert (down.direction_hit, down.in_band) == (False, False)
    assert down.abs_pct_error == pytest.approx(100 * 5 / 97)
    # The 5-day path ends at 97 (DOWN from 100): a fall to 95 is a hit, 2.1% off, no band.
    horizon = score_forecast(forecast_row(), "horizon", (date(2024, 7, 11), 5), 95.0)
    assert (horizon.predicted, horizon.direction_hit, horizon.in_band) == (97.0, True, None)
    assert horizon.abs_pct_error == pytest.approx(100 * 2 / 95)
    # Seven calendar days reach the 4th session of the path: 99.0.
    week = score_forecast(forecast_row(), "seven_day", (date(2024, 7, 10), 4), 99.5)
    assert (week.predicted, week.direction_hit) == (99.0, True)
    # The calibrated signal: P(up) 0.6 against its session, open 100 to close 99 (down).
    signal = forecast_row(probability_up=0.6)
    assert targets_of(signal, CAL)["session"] == (date(2024, 7, 5), 0)
    down_day = score_forecast(signal, "session", (date(2024, 7, 5), 0), 99.0, opened=100.0)
    assert (down_day.predicted, down_day.realized, down_day.direction_hit) == (0.6, 0.0, False)
    assert down_day.abs_pct_error == pytest.approx(60.0)
    flat = score_forecast(signal, "session", (date(2024, 7, 5), 0), 100.0, opened=100.0)
    assert flat.realized == 0.0  # a flat session is not up (premarket.target)
    no_band = score_forecast(
        forecast_row(p10=None, p90=None), "next_day", (date(2024, 7, 5), 1), 101
    )
    assert no_band.in_band is None


def test_one_forecast_counts_per_symbol_day_and_tier() -> None:
    """Six slots a morning are one call: the last run before the 09:30 open counts; runs after
    the open are not pre-market; replays are counted apart from live runs."""
    day = date(2024, 7, 5)  # New York is UTC-4 in July: the open is 13:30 UTC

    def made(i: int, hour: int, minute: int = 0, **overrides) -> dict:
        at = datetime(2024, 7, 5, hour, minute)
        return forecast_row(id=i, business_date=day, created_at=at, mode="live") | overrides

    rows = [
        made(1, 10, 30),
        made(2, 12, 0),
        made(3, 13, 29),  # 09:29 New York: the last before the open
        made(4, 13, 45),  # after the open
        made(5, 11, 0, tier="nhits"),
        made(6, 20, 0, mode="replay"),
        made(7, 21, 0, mode="replay"),
    ]
    assert [r["id"] for r in counted(rows, CAL)] == [3, 5, 7]
    assert counted([made(8, 14, 0)], CAL) == []


def test_the_signal_of_a_morning_is_scored_once_whichever_tier_fed_it(tmp_path: Path) -> None:
    """06:30 on the TFT, 07:00 on N-HITS (the TFT was down): two counted forecasts, one signal;
    its session score counts once, the last run's (issue 27, item 8)."""
    from sqlalchemy import insert

    from orchestrator.storage.tables import forecasts

    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    day = date(2024, 7, 5)
    common = {"model_used": "m", "confidence": 0.5, "action": "HOLD", "mode": "live"}
    with store.engine.begin() as conn:
        for i, (tier, hour, p) in enumerate([("tft", 10, 0.52), ("nhits", 11, 0.55)], start=1):
            row = forecast_row(id=i, run_id=f"r{i}", business_date=day, tier=tier)
            row |= common | {"created_at": datetime(2024, 7, 5, hour, 30), "probability_up": p}
            conn.execute(insert(forecasts).values(**row))
    try:
        ledger = AccuracyLedger(store.engine)
        pending = ledger.pending(CAL)
        sessions = [(row["id"], row["tier"]) for row, kind in pending if kind == "session"]
        assert sessions == [(2, "nhits")]
        assert sorted(row["id"] for row, kind in pending if kind == "next_day") == [1, 2]
    finally:
        store.close()


def bars_in_csv(symbol: str) -> dict[date, tuple[float, float]]:
    with open(PRICES_CSV, newline="") as handle:
        return {
            date.fromisoformat(r["date"]): (float(r["open"]), float(r["close"]))
            for r in csv.DictReader(handle)
            if r["symbol"] == symbol
        }


def closes_in_csv(symbol: str) -> dict[date, float]:
    with open(PRICES_CSV, newline="") as handle:
        return {
            date.fromisoformat(r["date"]): float(r["close"])
            for r in csv.DictReader(handle)
            if r["symbol"] == symbol
        }


@pytest.mark.slow
def test_stored_forecasts_are_scored_once_against_later_closes(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=database_url)
    store = Store(settings.database_url)
    doc = asyncio.run(
        run_analysis(
            settings, symbols=["AAPL", "MSFT"], as_of=date(2022, 9, 20), offline=True, store=store
        )
    ).to_document()
    assert doc["status"] == "ok"
    ledger = AccuracyLedger(store.engine)
    market = OfflineMarketData()  # every bundled close: the "future" of the 2022-09-20 run

    # An --as-of run is a replay: live figures do not count it, replay figures do.
    assert asyncio.run(score_pending(ledger, market, CAL, known_through=date(2022, 12, 30))) == []
    replays = ("replay",)
    first = asyncio.run(
        score_pending(ledger, market, CAL, known_through=date(2022, 9, 21), modes=replays)
    )
    assert {(s.symbol, s.kind) for s in first} == {
        (sym, kind) for sym in ("AAPL", "MSFT") for kind in ("next_day", "session")
    }  # the calibrated signal is scored on its own session, 21 September, open to close
    later = asyncio.run(
        score_pending(ledger, market, CAL, known_through=date(2022, 12, 30), modes=replays)
    )
    assert {(s.symbol, s.kind) for s in later} == {
        (sym, kind) for sym in ("AAPL", "MSFT") for kind in ("horizon", "seven_day")
    }
    again = score_pending(ledger, market, CAL, known_through=date(2022, 12, 30), modes=replays)
    assert asyncio.run(again) == []
    assert ledger.scores() == []  # no live scores

    stored = {(s.symbol, s.kind): s for s in ledger.scores(modes=replays)}
    for f in store.forecasts():
        closes = closes_in_csv(f["symbol"])
        nxt = stored[(f["symbol"], "next_day")]
        assert nxt.target_date == date(2022, 9, 21)
        assert nxt.realized == closes[date(2022, 9, 21)]
        assert nxt.direction_hit == (
            (nxt.realized > f["current_price"]) == (f["direction"] == "UP")
        )
        assert nxt.in_band == (f["p10"] <= nxt.realized <= f["p90"])
        hz = stored[(f["symbol"], "horizon")]
        assert hz.target_date == date(2022, 9, 27)  # five sessions after 20 September
        assert hz.realized == closes[date(2022, 9, 27)]
        assert hz.abs_pct_error == pytest.approx(
            100 * abs(f["forecast_path"][-1] - hz.realized) / hz.realized
        )
        signal = stored[(f["symbol"], "session")]
        opened, closed = bars_in_csv(f["symbol"])[date(2022, 9, 21)]
        up = closed > opened
        assert (signal.predicted, signal.realized) == (f["probability_up"], float(up))
        assert signal.direction_hit == ((f["probability_up"] >= 0.5) == up)

    with serving(create_app(settings, store=store)) as url:
        assert httpx.get(f"{url}/accuracy").json()["scored"] == 0
        served = httpx.get(f"{url}/accuracy", params={"replays": "true"}).json()
    assert served["scored"] == 8 and served["forecasts"] == 2
    assert served["as_of"] == "2022-09-27" and served["modes"] == ["replay"]
    rows = {(r["group_by"], r["group"], r["kind"], r["window"]): r for r in served["rows"]}
    tier = rows[("tier", "statistical", "next_day", 20)]
    assert tier["count"] == 2
    hits = sum(stored[(s, "next_day")].direction_hit for s in ("AAPL", "MSFT"))
    assert tier["direction_hit_rate"] == hits / 2
    session = rows[("tier", "statistical", "session", 20)]
    briers = [
        (stored[(s, "session")].predicted - stored[(s, "session")].realized) ** 2
        for s in ("AAPL", "MSFT")
    ]
    assert session["brier"] == pytest.approx(sum(briers) / 2, abs=1e-4)


def synthetic_scores() -> list[Score]:
    """30 sessions of AAPL/tft next-day scores: misses for 10 sessions, then 20 hits."""
    sessions = CAL.sessions_back(date(2024, 6, 28), 30)
    return [
        Score(i, "next_day", f"r{i}", day, "AAPL", "tft", day, 101.0, 100.0, i >= 10, 1.0 + i % 2,
              (i % 3 == 0) if i < 15 else None)
        for i, day in enumerate(sessions)
    ]  # fmt: skip


def test_rolling_windows_per_symbol_and_tier() -> None:
    scores = synthetic_scores()
    as_of, rows = rolling(scores, CAL)
    assert as_of == date(2024, 6, 28)
    table = {(r.group_by, r.group, r.window): r for r in rows}
    last20, last60 = table[("symbol", "AAPL", 20)], table[("tier", "tft", 60)]
    assert (last20.count, last20.direction_hit_rate) == (20, 1.0)
    assert last20.mean_abs_pct_error == pytest.approx(1.5)
    assert last20.band_coverage == pytest.approx(1 / 5)  # sessions 10..14 have a band, 12 hit
    assert (last60.count, last60.direction_hit_rate) == (30, pytest.approx(20 / 30))
    assert last60.band_coverage == pytest.approx(5 / 15)
    # A window ending earlier sees only the misses.
    _, early = rolling(scores, CAL, as_of=scores[9].target_date, windows=(20,))
    assert {(r.count, r.direction_hit_rate) for r in early} == {(10, 0.0)}
    assert last20.hit_rate_low == pytest.approx(0.839, abs=1e-3)  # Wilson, 20 of 20
    assert rolling([], CAL) == (None, [])


def test_one_day_of_scores_is_one_window_not_three() -> None:
    day = date(2024, 6, 28)
    scores = [
        Score(i, "next_day", "r", day, sym, "tft", day, 101.0, 100.0, True, 1.0, None)
        for i, sym in enumerate(("AAPL", "MSFT"))
    ]  # fmt: skip
    doc = accuracy_document(scores, CAL)
    assert {r["window"] for r in doc["rows"]} == {20}
    assert len(doc["rows"]) == 3  # AAPL, MSFT and the tier


def test_the_chart_axis_shows_dates_not_hours() -> None:
    from orchestrator.common.charts import pyplot

    plt = pyplot()
    for days in ([date(2024, 6, 28)], CAL.sessions_back(date(2024, 6, 28), 4)):
        figure, axis = plt.subplots()
        axis.plot([datetime.combine(d, datetime.min.time()) for d in days], range(len(days)))
        _daily_axis(axis, days)
        figure.canvas.draw()
        labels = [t.get_text() for t in axis.get_xticklabels() if t.get_text()]
        assert labels and all(len(t) == 10 and t[4] == "-" for t in labels), labels
        plt.close(figure)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    scores = synthetic_scores()
    path = plot(scores, CAL, tmp_path / "charts" / "accuracy.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_the_table_shows_session_rows_as_probability_error_with_brier() -> None:
    from rich.console import Console

    from orchestrator.cli.accuracy import render

    row = {"group_by": "tier", "group": "tft", "window": 20, "count": 2, "band_coverage": None,
           "direction_hit_rate": 0.5, "hit_rate_low": 0.1, "hit_rate_high": 0.9}  # fmt: skip
    doc = {"as_of": "2024-07-05", "forecasts": 2, "modes": ["live"], "scored": 4, "rows": [
        {**row, "kind": "session", "mean_abs_pct_error": 48.5, "brier": 0.2353},
        {**row, "kind": "next_day", "mean_abs_pct_error": 1.25, "brier": None},
    ]}  # fmt: skip
    console = Console(width=200, record=True)
    console.print(render(doc, 0))
    text = console.export_text()
    session = next(line for line in text.splitlines() if "session" in line and "tft" in line)
    assert "48.5 pts" in session and "0.2353" in session and "%" not in session.split("pts")[0][-8:]
    next_day = next(line for line in text.splitlines() if "next_day" in line)
    assert "1.2%" in next_day and "pts" not in next_day
