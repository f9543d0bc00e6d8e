"""Accuracy scoring: stored forecasts against the closes that followed them."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path

import httpx
import pytest
from test_api import make_settings, serving

from orchestrator.accuracy import (
    AccuracyLedger,
    Score,
    plot,
    rolling,
    score_forecast,
    score_pending,
    targets_of,
)
from orchestrator.api import create_app
from orchestrator.job import run_analysis
from orchestrator.market import OfflineMarketData
from orchestrator.store import Store
from orchestrator.trading_calendar import TradingCalendar
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
    assert targets == {"next_day": date(2024, 7, 5), "horizon": date(2024, 7, 11)}
    assert targets_of(forecast_row(forecast_path=[102.0]), CAL) == {"next_day": date(2024, 7, 5)}


def test_scores_of_a_known_forecast() -> None:
    up = score_forecast(forecast_row(), "next_day", date(2024, 7, 5), 103.0)
    assert (up.direction_hit, up.in_band) == (True, True)
    assert up.abs_pct_error == pytest.approx(100 * 1 / 103)
    down = score_forecast(forecast_row(), "next_day", date(2024, 7, 5), 97.0)
    assert (down.direction_hit, down.in_band) == (False, False)
    assert down.abs_pct_error == pytest.approx(100 * 5 / 97)
    # The 5-day path ends at 97 (DOWN from 100): a fall to 95 is a hit, 2.1% off, no band.
    horizon = score_forecast(forecast_row(), "horizon", date(2024, 7, 11), 95.0)
    assert (horizon.predicted, horizon.direction_hit, horizon.in_band) == (97.0, True, None)
    assert horizon.abs_pct_error == pytest.approx(100 * 2 / 95)
    no_band = score_forecast(forecast_row(p10=None, p90=None), "next_day", date(2024, 7, 5), 101)
    assert no_band.in_band is None


def closes_in_csv(symbol: str) -> dict[date, float]:
    with open(PRICES_CSV, newline="") as handle:
        return {
            date.fromisoformat(r["date"]): float(r["close"])
            for r in csv.DictReader(handle)
            if r["symbol"] == symbol
        }


@pytest.mark.slow
def test_stored_forecasts_are_scored_once_against_later_closes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    doc = asyncio.run(
        run_analysis(
            settings, symbols=["AAPL", "MSFT"], as_of=date(2022, 9, 20), offline=True, store=store
        )
    )
    assert doc["status"] == "ok"
    ledger = AccuracyLedger(store.engine)
    market = OfflineMarketData()  # every bundled close: the "future" of the 2022-09-20 run

    first = asyncio.run(score_pending(ledger, market, CAL, known_through=date(2022, 9, 21)))
    assert {(s.symbol, s.kind) for s in first} == {("AAPL", "next_day"), ("MSFT", "next_day")}
    later = asyncio.run(score_pending(ledger, market, CAL, known_through=date(2022, 12, 30)))
    assert {(s.symbol, s.kind) for s in later} == {("AAPL", "horizon"), ("MSFT", "horizon")}
    assert asyncio.run(score_pending(ledger, market, CAL, known_through=date(2022, 12, 30))) == []

    stored = {(s.symbol, s.kind): s for s in ledger.scores()}
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

    with serving(create_app(settings, store=store)) as url:
        served = httpx.get(f"{url}/accuracy").json()
    assert served["scored"] == 4 and served["as_of"] == "2022-09-27"
    rows = {(r["group_by"], r["group"], r["kind"], r["window"]): r for r in served["rows"]}
    tier = rows[("tier", "statistical", "next_day", 20)]
    assert tier["count"] == 2
    hits = sum(stored[(s, "next_day")].direction_hit for s in ("AAPL", "MSFT"))
    assert tier["direction_hit_rate"] == hits / 2


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
    assert rolling([], CAL) == (None, [])


def test_plot_writes_a_png(tmp_path: Path) -> None:
    scores = synthetic_scores()
    path = plot(scores, CAL, tmp_path / "charts" / "accuracy.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
