"""The risk forecast (``premarket.risk``): estimators by hand, no look-ahead, the fits, the
bundled model, the backtest's risk section and ``--predictions`` through the real CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from orchestrator_stubs import run_cli

from orchestrator.backtest.data import load_prices
from premarket.data import PRICES_CSV
from premarket.risk import estimators
from premarket.risk.features import FEATURES, MIN_BARS, SymbolBars
from premarket.risk.har import MIN_FIT, har_design, har_forecast
from premarket.risk.model import RiskModel, build_panel, fit_model, fit_qlike, forecast_universe

OPEN, HIGH, LOW, CLOSE = 100.0, 104.0, 98.0, 102.0


def test_estimators_match_hand_computation() -> None:
    hl, co = math.log(HIGH / LOW), math.log(CLOSE / OPEN)
    assert estimators.log_range(HIGH, LOW) == pytest.approx(0.059423420470800)
    assert estimators.open_to_close(OPEN, CLOSE) == pytest.approx(0.019802627296180)
    assert estimators.overnight(101.0, OPEN) == pytest.approx(math.log(100 / 101))
    assert estimators.garman_klass(OPEN, HIGH, LOW, CLOSE) == pytest.approx(
        0.5 * hl**2 - (2 * math.log(2) - 1) * co**2
    )
    # a bar with no range and no move has no variance
    assert estimators.garman_klass(50, 50, 50, 50) == 0


@pytest.fixture(scope="module")
def universe() -> list[SymbolBars]:
    histories = load_prices(PRICES_CSV, ["AAPL", "MSFT", "XOM"])
    return [SymbolBars.from_arrays(s, h.dates, *h.rows.T) for s, h in histories.items()]


def _changed_from(universe: list[SymbolBars], day: int) -> list[SymbolBars]:
    """The same universe with every bar from ``day`` on replaced by wild but valid ones."""
    rng = np.random.default_rng(7)
    out = []
    for b in universe:
        later = np.arange(len(b)) >= day
        scale = np.where(later, rng.uniform(0.5, 2.0, len(b)), 1.0)
        o, c = b.open * scale, b.close * scale * np.where(later, 1.03, 1.0)
        h = np.maximum.reduce([b.high * scale * np.where(later, 1.1, 1.0), o, c])
        lo = np.minimum.reduce([b.low * scale * np.where(later, 0.9, 1.0), o, c])
        out.append(SymbolBars(b.symbol, b.dates, o, h, lo, c, b.volume * np.where(later, 3, 1)))
    return out


def test_no_forecast_reads_its_target_session_or_any_later_bar(universe) -> None:
    model = RiskModel.load()
    day = 1500  # the target session of origin 1499
    before = forecast_universe(model, universe)
    after = forecast_universe(model, _changed_from(universe, day))
    for symbol, series in before.items():
        for name in ("sigma_oc", "range_hl", "p10", "p90", "normal"):
            old, new = getattr(series, name), getattr(after[symbol], name)
            np.testing.assert_array_equal(old[:day], new[:day], err_msg=f"{symbol} {name}")
            assert not np.allclose(old[day:], new[day:])  # the change is visible after


def test_a_fit_sees_only_sessions_before_its_cutoff(universe) -> None:
    day = 1500
    until = universe[0].dates[day]
    kept = fit_model(build_panel(universe), until=until, version="a")
    changed = fit_model(build_panel(_changed_from(universe, day)), until=until, version="a")
    assert kept.coefficients == changed.coefficients
    assert kept.z_p10 == changed.z_p10 and kept.range_ratio == changed.range_ratio
    assert kept.fit["last_target"] < str(until)


def test_har_forecast_is_the_least_squares_fit_of_the_past(universe) -> None:
    gk = universe[0].garman_klass()
    t = 900
    forecast = har_forecast(gk, window=500)
    x = har_design(gk)
    pairs = np.arange(t - 500, t)  # origins s with s + 1 <= t
    coef, *_ = np.linalg.lstsq(x[pairs], np.log(gk[pairs + 1]), rcond=None)
    residual = np.log(gk[pairs + 1]) - x[pairs] @ coef
    expected = math.exp(x[t] @ coef + residual @ residual / (len(pairs) - 4) / 2)
    assert forecast[t] == pytest.approx(expected, rel=1e-8)
    assert np.isnan(har_forecast(gk[: MIN_FIT + 10])).all()  # 22 bars go to the month mean


def test_fit_qlike_recovers_a_known_variance_law() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 2))
    variance = np.exp(-9.0 + 0.6 * x[:, 0] - 0.3 * x[:, 1])
    y = variance * rng.standard_normal(20_000) ** 2  # squared returns: a chi-square(1) proxy
    b = fit_qlike(x, y)
    np.testing.assert_allclose(b, [-9.0, 0.6, -0.3], atol=0.05)


def test_short_histories_get_the_panel_alone_then_nothing(universe) -> None:
    model = RiskModel.load()
    short = [SymbolBars(b.symbol, *(getattr(b, f)[:120] for f in
             ("dates", "open", "high", "low", "close", "volume"))) for b in universe]  # fmt: skip
    series = forecast_universe(model, short)["AAPL"]
    assert np.isnan(series.sigma_oc[: MIN_BARS - 1]).all()
    assert np.isfinite(series.sigma_oc[MIN_BARS - 1 :]).all() and not series.own_har.any()


def test_the_bundled_model_is_what_the_training_command_makes(tmp_path: Path) -> None:
    from models.risk.train import main

    out = tmp_path / "risk.json"
    assert main(["--out", str(out)]) == 0
    made, bundled = RiskModel.load(out), RiskModel.load()
    assert made.version == bundled.version
    np.testing.assert_allclose(made.coefficients, bundled.coefficients, rtol=1e-9)
    assert made.features == list(FEATURES)


def test_backtest_risk_section_and_predictions_file(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "backtest", "--start", "2023-11-01", "--end", "2023-12-29",
        "--symbols", "AAPL", "MSFT", "XOM", "--tiers", "statistical", "--no-progress",
        "--json", "bt.json", "--predictions", "risk.csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "risk model" in result.stdout and "(anchor)" in result.stdout  # the printed table
    summary = json.loads((tmp_path / "bt.json").read_text())
    # the per-tier books enter at the origin close: labelled as not tradable (issue 27, item 7)
    assert summary["strategy_trade"] == "close-to-close, not tradable before the open"
    risk = summary["risk"]
    assert set(risk["forecasters"]) == {"risk", "har", "garch", "statistical"}
    own = risk["forecasters"]["risk"]
    for anchor in ("vs_garch", "vs_har"):
        test = own["diebold_mariano"][anchor]["qlike_oc"]
        assert test["days"] == risk["sessions"] and 0 <= test["p_value"] <= 1
    assert 0 < own["coverage_p10_p90"] < 1 and risk["high_risk"]["sessions"] > 0
    assert {"session_fixed", "session_risk_sized", "vol_managed_hold"} <= set(risk["sizing"])
    with (tmp_path / "risk.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:6] == ["symbol", "date", "sigma_oc", "range_hl", "p10", "p90"]
    assert len(rows) == 3 * risk["sessions"]
    assert {r["date"] for r in rows} >= {"2023-11-01", "2023-12-29"}
    assert all(float(r["p10"]) < 0 < float(r["p90"]) for r in rows)


def test_a_live_run_shows_the_forecast_the_model_makes(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "analyze", "--offline", "--as-of", "2023-06-01", "--symbols", "AAPL", "XOM",
        "--json", "run.json",
    )  # fmt: skip
    assert result.returncode == 4, result.stderr  # degraded: no model service runs here
    doc = json.loads((tmp_path / "run.json").read_text())
    histories = load_prices(PRICES_CSV, ["AAPL", "XOM"])
    universe = [
        SymbolBars.from_arrays(s, h.dates[h.dates <= np.datetime64("2023-06-01")],
                               *h.rows[h.dates <= np.datetime64("2023-06-01")].T)
        for s, h in histories.items()
    ]  # fmt: skip
    expected = forecast_universe(RiskModel.load(), universe)
    for symbol in ("AAPL", "XOM"):
        risk = doc["trading_signals"][symbol]["risk"]
        # the run sees the last 1,024 bars: the same forecast within the HAR window's reach
        assert risk["sigma_oc"] == pytest.approx(expected[symbol].sigma_oc[-1], rel=1e-4)
        assert risk["model_version"] == RiskModel.load().version


def test_each_walk_forward_block_is_fitted_on_the_sessions_before_it(monkeypatch) -> None:
    from orchestrator.backtest import risk_forecasts as module

    cuts = []

    def recording(panel, *, until, version):
        cuts.append(until)
        return fit_model(panel, until=until, version=version)

    monkeypatch.setattr(module, "fit_model", recording)
    histories = load_prices(PRICES_CSV, ["AAPL", "XOM"])
    panel = build_panel(module.universe_of(histories))
    period = (np.datetime64("2023-10-02"), np.datetime64("2023-12-29"))
    rows = module.risk_model_rows(panel, period, refit_every=21)
    sessions = np.unique(rows["date"].to_numpy(dtype="datetime64[D]"))
    assert cuts == list(sessions[::21])  # each fit stops before its block's first session
    assert rows["date"].min() == np.datetime64("2023-10-02")
