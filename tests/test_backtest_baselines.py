"""The band baselines (GARCH(1,1)-t, historical quantiles), the interval score and the
Diebold-Mariano tests of the backtest, against known answers and the reference libraries."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestrator.backtest import BacktestConfig, run_backtest
from orchestrator.backtest.baselines import Garch, HistoricalQuantile, _fit, next_variance
from orchestrator.backtest.data import History
from orchestrator.backtest.dm import diebold_mariano, newey_west_lags
from orchestrator.backtest.engine import walk_forward
from orchestrator.backtest.metrics import band_scores, winkler_score


def garch_returns(days: int, seed: int = 3) -> np.ndarray:
    """Daily log returns of a GARCH(1,1) with Student-t (nu = 6) errors, in fractions."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta, nu = 0.05, 0.08, 0.9, 6.0
    shocks = rng.standard_t(nu, days) * np.sqrt((nu - 2) / nu)
    variance, out = omega / (1 - alpha - beta), np.empty(days)
    for t in range(days):
        out[t] = np.sqrt(variance) * shocks[t]
        variance = omega + alpha * out[t] ** 2 + beta * variance
    return out / 100


def history(symbol: str, returns: np.ndarray) -> History:
    closes = 100 * np.exp(np.concatenate(([0.0], np.cumsum(returns))))
    dates = np.datetime64("2010-01-04") + np.arange(len(closes))
    rows = np.column_stack([closes, closes, closes, closes, np.full(len(closes), 1e6)])
    return History(symbol, dates, rows)


def test_next_variance_equals_arch_forecast() -> None:
    from arch import arch_model

    returns = 100 * garch_returns(900)
    params = _fit(returns[:700])
    assert params[3] > 0.5  # a real GARCH fit, not the constant-variance fallback
    reference = arch_model(returns, mean="Constant", vol="GARCH", dist="t", rescale=False)
    expected = reference.fix(params).forecast(horizon=1, reindex=False).variance.values[-1, 0]
    assert next_variance(returns, params) == pytest.approx(expected, rel=1e-10)


def test_band_baselines_cover_about_80_percent_of_a_garch_process() -> None:
    histories = {"G": history("G", garch_returns(1500))}
    start, end = (pd.Timestamp(histories["G"].dates[d]).date() for d in (500, 1500))
    run = walk_forward(histories, [Garch(), HistoricalQuantile()], start, end, progress=False)
    for tier, frame in run.predictions.groupby("tier"):
        inside = (frame["actual"] >= frame["p10"]) & (frame["actual"] <= frame["p90"])
        assert 0.75 <= inside.mean() <= 0.85, (tier, inside.mean())
        levels = [frame[k] for k in ("p02", "p10", "p25", "p50", "p75", "p90", "p98")]
        assert all((lo <= hi).all() for lo, hi in zip(levels, levels[1:], strict=False))


def test_garch_uses_only_data_up_to_its_refit_day() -> None:
    """A window's band does not depend on how the engine chunks windows, nor on later data."""
    full = history("G", garch_returns(400))
    windows = [History("G", full.dates[: n + 1], full.rows[: n + 1]) for n in range(300, 340)]
    together = Garch(refit_every=21).forecast(windows)
    one_by_one = [Garch(refit_every=21).forecast([w]).quantiles["p10"][0] for w in windows[::7]]
    assert np.allclose(together.quantiles["p10"][::7], one_by_one)


def test_historical_quantiles_known_answer() -> None:
    returns = np.log(np.linspace(1.001, 1.02, 61))  # 61 distinct positive returns
    window = history("H", returns)
    out = HistoricalQuantile(lookback=61).forecast([window])
    last = window.closes[-1]
    assert out.point[0] == pytest.approx(last * np.exp(np.median(returns)))
    assert out.quantiles["p10"][0] == pytest.approx(last * np.exp(np.quantile(returns, 0.1)))
    assert out.confidence[0] == 1.0  # every past day rose


def test_winkler_score_known_answers() -> None:
    actual = np.array([5.0, 0.0, 12.0])
    low, high = np.full(3, 2.0), np.full(3, 10.0)
    assert winkler_score(actual, low, high, 0.2).tolist() == [8.0, 8.0 + 10 * 2, 8.0 + 10 * 2]
    scores = band_scores(actual, {"p10": low, "p50": np.full(3, 6.0), "p90": high})
    assert scores["winkler_p10_p90"] == pytest.approx(64 / 3)
    assert list(scores["pinball_per_quantile"]) == ["p10", "p50", "p90"]
    assert scores["pinball_per_quantile"]["p50"] == pytest.approx(np.mean([0.5, 3.0, 3.0]))


def test_diebold_mariano_matches_statsmodels_hac() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(5)
    d = 0.1 + np.convolve(rng.normal(size=300), [1.0, 0.6, 0.3], mode="same")
    result = diebold_mariano(d)
    lags = newey_west_lags(300)
    fit = sm.OLS(d, np.ones(300)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    assert result["lags"] == lags == 5
    assert result["statistic"] == pytest.approx(fit.tvalues[0], rel=1e-9)
    assert result["p_value"] == pytest.approx(fit.pvalues[0], rel=1e-6)
    assert diebold_mariano(np.zeros(50))["p_value"] is None  # equal losses: nothing to test


def test_backtest_json_carries_the_baselines_and_dm_tests(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    frames = []
    for symbol, scale in (("AAA", 50.0), ("BBB", 400.0)):
        closes = scale * np.exp(np.cumsum(rng.normal(0.0003, 0.015, 400)))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": pd.bdate_range("2020-01-01", periods=400).strftime("%Y-%m-%d"),
                    **{c: closes for c in ("open", "high", "low", "close")},
                    "volume": 1e6,
                }
            )
        )
    csv = tmp_path / "prices.csv"
    pd.concat(frames).to_csv(csv, index=False)
    config = BacktestConfig(
        prices=csv, start=date(2020, 6, 1), end=date(2021, 7, 1), tiers=["statistical"]
    )
    tiers = run_backtest(config, progress=False).summary["tiers"]
    assert list(tiers) == ["statistical", "garch", "hist_quantile", "random_walk", "drift"]
    for key in ("garch", "hist_quantile"):
        overall = tiers[key]["overall"]
        assert 0.7 < overall["coverage_p10_p90"] < 0.9 and overall["winkler_p10_p90"] > 0
        assert len(overall["pinball_per_quantile"]) == 7
    drift_vs_walk = tiers["drift"]["diebold_mariano"]["vs_random_walk"]
    assert drift_vs_walk["loss"] == "absolute_error" and drift_vs_walk["days"] > 250
    assert 0 <= drift_vs_walk["p_value"] <= 1
    statistical_vs_garch = tiers["statistical"]["diebold_mariano"]["vs_garch"]
    assert statistical_vs_garch["loss"].startswith("pinball over p10")
    assert "vs_garch" not in tiers["garch"]["diebold_mariano"]
    assert "vs_garch" not in tiers["drift"]["diebold_mariano"]  # no band to compare
