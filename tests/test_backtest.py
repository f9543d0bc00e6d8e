"""The walk-forward backtest on synthetic series whose right answers are known."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from orchestrator_stubs import run_cli

from orchestrator.backtest import BacktestConfig, BacktestError, load_prices, run_backtest
from orchestrator.backtest.tiers import (
    Drift,
    Provenance,
    RandomWalk,
    Statistical,
    TierOutput,
)
from orchestrator.cli.backtest import main as backtest_main

ROOT = Path(__file__).resolve().parents[1]

GROWTH = 1.001
DAYS = 300


def write_prices(path: Path, closes: dict[str, np.ndarray], first: str = "2021-01-04") -> Path:
    """A price CSV in the bundled layout, one business day per row, OHLC all at the close."""
    frames = []
    for symbol, series in closes.items():
        dates = pd.bdate_range(first, periods=len(series))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": dates.strftime("%Y-%m-%d"),
                    "open": series,
                    "high": series,
                    "low": series,
                    "close": series,
                    "adj_close": series,
                    "volume": 1_000_000,
                }
            )
        )
    pd.concat(frames).to_csv(path, index=False)
    return path


def trend(days: int = DAYS, start: float = 100.0) -> np.ndarray:
    return start * GROWTH ** np.arange(days)


@pytest.fixture
def trend_csv(tmp_path: Path) -> Path:
    return write_prices(tmp_path / "trend.csv", {"UPUP": trend(), "TWO": trend(start=20.0)})


def period(csv: Path, first_index: int) -> tuple[date, date]:
    dates = pd.read_csv(csv)["date"].unique()
    return date.fromisoformat(dates[first_index]), date.fromisoformat(dates[-1])


def test_geometric_trend_known_answers(trend_csv: Path) -> None:
    start, end = period(trend_csv, 100)
    report = run_backtest(
        BacktestConfig(prices=trend_csv, start=start, end=end, tiers=["statistical"]),
        progress=False,
    )
    s = report.summary
    days = DAYS - 100
    assert s["forecasts_per_tier"] == 2 * days
    assert s["target_days"] == days
    assert list(s["tiers"]) == ["statistical", "garch", "hist_quantile", "random_walk", "drift"]

    walk = s["tiers"]["random_walk"]["overall"]
    assert walk["mase"] == 1.0
    # Tomorrow is GROWTH times today: the no-change forecast misses by (1 - 1/GROWTH).
    assert walk["mape_pct"] == pytest.approx(100 * (1 - 1 / GROWTH), rel=1e-6)
    assert walk["days_called"] == 0 and walk["hit_rate"] is None
    assert walk["strategy"]["total_return"] == 0.0

    for key in ("drift", "statistical"):
        tier = s["tiers"][key]["overall"]
        assert tier["mape_pct"] < 1e-8, key
        assert tier["mase"] < 1e-6, key
        assert tier["hit_rate"] == 1.0 and tier["days_called"] == 2 * days
        assert tier["always_up_rate"] == 1.0
        assert tier["p_vs_half"] < 1e-100
        assert tier["p_vs_always_up"] == 1.0  # no better than always saying UP
        # Certain of UP every day: long throughout, one entry cost, same as buy and hold.
        strategy = tier["strategy"]
        assert strategy["exposure"] == 1.0 and strategy["trades"] == 2
        assert strategy["total_return"] == pytest.approx(s["buy_and_hold"]["total_return"])
    hold = s["buy_and_hold"]
    assert hold["total_return"] == pytest.approx(GROWTH**days * (1 - 5e-4) - 1, rel=1e-4)
    assert hold["annual_return"] == pytest.approx(GROWTH**252 - 1, abs=2e-3)
    assert hold["max_drawdown"] == 0.0
    per_symbol = s["tiers"]["random_walk"]["per_symbol"]
    assert set(per_symbol) == {"UPUP", "TWO"} and per_symbol["TWO"]["mase"] == 1.0


class Oracle:
    """Knows the next close (from outside the window): the best any tier could do."""

    key = "oracle"
    label = "Oracle"
    min_rows = 1
    batch_size = 64

    def __init__(self, histories, sign: float = 1.0) -> None:
        self.next_close = {
            (sym, d): c
            for sym, h in histories.items()
            for d, c in zip(h.dates[:-1], h.closes[1:], strict=True)
        }
        self.sign = sign

    def forecast(self, windows) -> TierOutput:
        nxt = np.array([self.next_close[(w.symbol, w.dates[-1])] for w in windows])
        last = np.array([w.closes[-1] for w in windows])
        point = last + self.sign * (nxt - last)
        return TierOutput(
            point=point,
            confidence=np.ones(len(windows)),
            quantiles={"p10": nxt - 1.0, "p50": nxt, "p90": nxt + 1.0},
        )


def test_perfect_foresight_scores_and_trades_as_expected(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    closes = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.02, 120)))
    csv = write_prices(tmp_path / "gbm.csv", {"RAND": closes})
    histories = load_prices(csv)
    start, end = period(csv, 20)
    oracle = Oracle(histories)
    contrarian = Oracle(histories, sign=-1.0)
    contrarian.key, contrarian.label = "contrarian", "Contrarian"
    report = run_backtest(
        BacktestConfig(prices=csv, start=start, end=end, cost_bps=0.0),
        progress=False,
        tiers=[RandomWalk(), oracle, contrarian],
        histories=histories,
    )
    best = report.summary["tiers"]["oracle"]["overall"]
    worst = report.summary["tiers"]["contrarian"]["overall"]
    assert best["mae"] == 0.0 and best["mase"] == 0.0
    assert best["hit_rate"] == 1.0 and best["mcc"] == pytest.approx(1.0)
    assert worst["hit_rate"] == 0.0 and worst["mcc"] == pytest.approx(-1.0)
    assert best["coverage_p10_p90"] == 1.0
    assert best["calibration"] == {"p10": 0.0, "p50": 1.0, "p90": 1.0}
    # 1 above p10 and 1 below p90: each costs 0.1 (tau on the right side), p50 costs 0.
    assert best["pinball"] == pytest.approx((0.1 + 0.0 + 0.1) / 3)
    # Always on the right side of every move, with no costs.
    returns = closes[20:] / closes[19:-1] - 1  # target days 20.., from origins 19..
    assert best["strategy"]["total_return"] == pytest.approx(np.prod(1 + np.abs(returns)) - 1)
    assert best["strategy"]["max_drawdown"] == 0.0
    assert worst["strategy"]["total_return"] == pytest.approx(np.prod(1 - np.abs(returns)) - 1)


class WholeWindow:
    """Depends on every value of its window, so any leaked future row would change it."""

    key = "oracle"
    label = "Whole window"
    min_rows = 1
    batch_size = 7

    def __init__(self) -> None:
        self.latest_seen: dict[str, np.datetime64] = {}

    def forecast(self, windows) -> TierOutput:
        for w in windows:
            assert len(w.dates) == len(w.rows) and not w.rows.flags.writeable
        point = np.array([w.closes[-1] + 1e-9 * w.rows.sum() for w in windows])
        return TierOutput(point=point, confidence=np.full(len(windows), 0.5))


def test_no_look_ahead(tmp_path: Path) -> None:
    """Corrupting every row after a day leaves all forecasts made up to that day unchanged."""
    rng = np.random.default_rng(3)
    series = {s: 30 * np.exp(np.cumsum(rng.normal(0, 0.02, 200))) for s in ("AAA", "BBB")}
    clean = write_prices(tmp_path / "clean.csv", series)
    cut = 150
    corrupted_series = {s: c.copy() for s, c in series.items()}
    for c in corrupted_series.values():
        c[cut + 1 :] *= rng.uniform(0.5, 2.0, len(c) - cut - 1)
    corrupted = write_prices(tmp_path / "corrupted.csv", corrupted_series)
    start, end = period(clean, 70)
    cut_day = pd.Timestamp(pd.read_csv(clean)["date"].unique()[cut])

    def forecasts(csv: Path) -> pd.DataFrame:
        tiers = [Statistical(), RandomWalk(), Drift(), WholeWindow()]
        report = run_backtest(
            BacktestConfig(prices=csv, start=start, end=end), progress=False, tiers=tiers
        )
        frame = report.predictions
        return frame[frame["origin"] <= cut_day].drop(columns=["actual"]).reset_index(drop=True)

    before, after = forecasts(clean), forecasts(corrupted)
    assert len(before) == 4 * 2 * (cut - 68)  # origins 69 (target 70) .. cut, two symbols
    assert before["origin"].max() == cut_day
    pd.testing.assert_frame_equal(before, after)
    # ...while the forecasts after the cut do change, so the comparison can fail.
    changed = run_backtest(
        BacktestConfig(prices=corrupted, start=start, end=end), progress=False, tiers=[Drift()]
    ).predictions
    assert not np.allclose(
        changed["point"].to_numpy(),
        run_backtest(
            BacktestConfig(prices=clean, start=start, end=end), progress=False, tiers=[Drift()]
        ).predictions["point"],
    )


def test_each_window_ends_at_its_origin(trend_csv: Path) -> None:
    class Recorder(WholeWindow):
        def forecast(self, windows) -> TierOutput:
            for w in windows:
                assert w.dates[-1] == max(w.dates)
                self.latest_seen[w.symbol] = max(
                    self.latest_seen.get(w.symbol, w.dates[0]), w.dates[-1]
                )
            return super().forecast(windows)

    recorder = Recorder()
    start, end = period(trend_csv, 250)
    report = run_backtest(
        BacktestConfig(prices=trend_csv, start=start, end=end), progress=False, tiers=[recorder]
    )
    frame = report.predictions
    assert (frame["target"] > frame["origin"]).all()
    assert frame["target"].min() == pd.Timestamp(start)
    # The last target day's close is never inside a window.
    assert all(day < np.datetime64(end) for day in recorder.latest_seen.values())


def test_cli_writes_json_and_charts(trend_csv: Path, tmp_path: Path) -> None:
    """The real command, in a process of its own with an empty model store (a store filled by
    other tests in this process would change what it skips)."""
    start, end = period(trend_csv, 200)
    out = tmp_path / "out" / "bt.json"
    plots = tmp_path / "plots"
    captured = run_cli(
        tmp_path,
        "backtest", "--prices", str(trend_csv), "--start", str(start), "--end", str(end),
        "--symbols", "upup", "--json", str(out), "--plots", str(plots), "--no-progress",
        "--cost-bps", "0",
        env={"BENTOML_HOME": str(tmp_path / "empty-store")},
    )  # fmt: skip
    assert captured.returncode == 0, captured.stderr
    assert "skipped tft" in captured.stderr and "skipped nhits" in captured.stderr
    assert "Statistical (Fallback)" in captured.stdout
    summary = json.loads(out.read_text())
    assert summary["symbols"] == ["UPUP"] and set(summary["skipped"]) == {"tft", "nhits"}
    assert summary["tiers"]["drift"]["overall"]["hit_rate"] == 1.0
    assert summary["machine"]["cores"] >= 1
    assert sorted(p.name for p in plots.iterdir()) == [
        "calibration.png", "equity.png", "fan_UPUP.png",
    ]  # fmt: skip
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in plots.iterdir())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns=["volume"]), "lacks the column(s) volume"),
        (lambda f: f.assign(close=f["close"].where(f.index != 5, -1.0)), "column close"),
        (lambda f: f.assign(date=f["date"].where(f.index != 3, "yesterday")), "column date"),
        (lambda f: pd.concat([f, f.iloc[[4]].assign(close=1.0)]), "more than one row"),
        (lambda f: f.assign(close=f["close"].where(f.index != 5, "")), "line 7: AAA: column close"),
    ],
)
def test_bad_csv_is_one_clear_line(tmp_path: Path, edit, message: str, capsys) -> None:
    good = write_prices(tmp_path / "good.csv", {"AAA": trend(80)})
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(good)).to_csv(bad, index=False)
    code = backtest_main(["--prices", str(bad), "--start", "2021-03-01", "--end", "2021-04-01"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_bad_arguments_are_refused(trend_csv: Path, capsys) -> None:
    args = ["--prices", str(trend_csv), "--no-progress"]
    assert backtest_main([*args, "--start", "2021-06-01", "--end", "2021-05-01"]) == 2
    assert "after --end" in capsys.readouterr().err
    assert backtest_main([*args, "--start", "2030-01-01", "--end", "2030-02-01"]) == 2
    assert "no trading day" in capsys.readouterr().err
    assert (
        backtest_main([*args, "--symbols", "NOPE", "--start", "2021-06-01", "--end", "2021-07-01"])
        == 2
    )
    assert "--symbols: NOPE" in capsys.readouterr().err
    with pytest.raises(BacktestError, match="does not exist"):
        load_prices(trend_csv.with_name("missing.csv"))


def test_model_tiers_without_models_are_skipped_with_a_reason(tmp_path: Path) -> None:
    # In a process of its own with an empty model store: the session's store is shared with
    # tests that train models into it (tests/test_backtest_models.py), in any order.
    script = (
        "import json; from orchestrator.backtest.tiers import load_tiers; "
        "tiers, skipped = load_tiers(['tft', 'nhits', 'statistical'], history=90); "
        "print(json.dumps([[t.key for t in tiers], skipped]))"
    )
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    keys, skipped = json.loads(out.stdout.strip().splitlines()[-1])
    assert keys == [
        "statistical",
        "garch",
        "hist_quantile",
        "random_walk",
        "drift",
    ]
    assert set(skipped) == {"tft", "nhits"}
    assert all("train" in reason for reason in skipped.values())


def test_history_shorter_than_a_tier_needs_is_left_out(trend_csv: Path) -> None:
    start, end = period(trend_csv, 0)  # the first days have no 61-day history yet
    report = run_backtest(
        BacktestConfig(prices=trend_csv, start=start, end=end, tiers=["statistical"]),
        progress=False,
    )
    assert report.summary["days_dropped_for_history"] == 2 * 60
    assert report.summary["forecasts_per_tier"] == 2 * (DAYS - 61)
    assert math.isclose(report.summary["tiers"]["random_walk"]["overall"]["mase"], 1.0)


def test_days_a_model_has_seen_are_scored_apart(trend_csv: Path) -> None:
    """A stored model's fitted or calibrated days are flagged; out_of_sample scores the rest."""
    start, end = period(trend_csv, 100)
    dates = pd.read_csv(trend_csv)["date"].unique()
    fitted_until, seen_until = dates[119], dates[149]  # targets 100..119 fitted, ..149 seen

    class SeenDrift(Drift):
        provenance = Provenance(tag="drift:test", fitted_until=fitted_until, seen_until=seen_until)

    report = run_backtest(
        BacktestConfig(prices=trend_csv, start=start, end=end),
        progress=False,
        tiers=[RandomWalk(), SeenDrift()],
    )
    drift = report.summary["tiers"]["drift"]
    assert drift["model"]["tag"] == "drift:test"
    after_fit, unseen = drift["out_of_sample"]["after_fit"], drift["out_of_sample"]["unseen"]
    assert after_fit["forecasts_before"] == 2 * 20 and unseen["forecasts_before"] == 2 * 50
    assert after_fit["days"] == 2 * (DAYS - 120) and after_fit["first_target"] > fitted_until
    assert unseen["days"] == 2 * (DAYS - 150) and unseen["first_target"] > seen_until
    assert unseen["hit_rate"] == 1.0
    assert unseen["buy_and_hold"]["total_return"] < report.summary["buy_and_hold"]["total_return"]
    assert "out_of_sample" not in report.summary["tiers"]["random_walk"]
