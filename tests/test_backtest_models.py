"""The backtest with real (tiny) TFT and N-HITS models from the BentoML store."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestrator.backtest import BacktestConfig, load_prices, run_backtest
from orchestrator.backtest.engine import build_windows
from orchestrator.backtest.tiers import load_tiers
from premarket.data import PRICES_CSV

pytestmark = pytest.mark.slow

SYMBOLS = ["AAPL", "XOM"]
START, END = dt.date(2022, 11, 1), dt.date(2022, 12, 30)
CUT = dt.date(2022, 11, 30)


@pytest.fixture(scope="module")
def stored_models() -> None:
    """Tiny N-HITS and TFT trained on the bundled prices into the test's private store."""
    from models.nhits.train import TrainConfig as NHitsConfig
    from models.nhits.train import save_to_store
    from models.nhits.train import train as train_nhits
    from models.tft.train import TrainConfig as TFTConfig
    from models.tft.train import fit, persist

    tiny_nhits = NHitsConfig(max_steps=5, hidden=16, windows_batch_size=64, progress=False)
    save_to_store(train_nhits(replace(tiny_nhits, symbols=tuple(SYMBOLS))))
    persist(
        fit(
            TFTConfig(
                symbols=tuple(SYMBOLS),
                hidden_size=8,
                attention_head_size=2,
                max_epochs=1,
                limit_train_batches=3,
                batch_size=64,
                progress=False,
            )
        )
    )


def corrupted_csv(tmp_path: Path) -> Path:
    """The bundled prices of SYMBOLS with every row after CUT scrambled."""
    frame = pd.read_csv(PRICES_CSV)
    frame = frame[frame["symbol"].isin(SYMBOLS)].copy()
    after = pd.to_datetime(frame["date"]).dt.date > CUT
    factor = np.random.default_rng(0).uniform(0.5, 2.0, after.sum())
    for column in ("open", "high", "low", "close"):
        frame.loc[after, column] *= factor
    path = tmp_path / "corrupted.csv"
    frame.to_csv(path, index=False)
    return path


def test_model_tiers_run_batched_without_look_ahead(stored_models, tmp_path: Path) -> None:
    tiers, skipped = load_tiers(["tft", "nhits", "statistical"], history=90)
    assert skipped == {}
    assert [t.key for t in tiers] == [
        "tft",
        "nhits",
        "statistical",
        "garch",
        "hist_quantile",
        "random_walk",
        "drift",
    ]

    def forecasts(csv: Path):
        config = BacktestConfig(prices=csv, start=START, end=END, symbols=SYMBOLS)
        return run_backtest(config, progress=False, tiers=tiers)

    clean, scrambled = forecasts(PRICES_CSV), forecasts(corrupted_csv(tmp_path))
    summary = clean.summary
    for key in ("tft", "nhits"):
        tier = summary["tiers"][key]
        assert tier["model"]["tag"].startswith(f"{key}:")
        assert 0.0 <= tier["overall"]["coverage_p10_p90"] <= 1.0
        assert tier["overall"]["mase"] > 0
    # TFT: fitted to 2021-12-31, early-stopped to the demo day; everything here is after both.
    assert summary["tiers"]["tft"]["out_of_sample"]["unseen"]["forecasts_before"] == 0

    def upto_cut(report) -> pd.DataFrame:
        frame = report.predictions
        keep = frame["origin"] <= pd.Timestamp(CUT)
        return frame[keep].drop(columns=["actual"]).reset_index(drop=True)

    before, after = upto_cut(clean), upto_cut(scrambled)
    assert set(before["tier"]) == {
        "tft",
        "nhits",
        "statistical",
        "garch",
        "hist_quantile",
        "random_walk",
        "drift",
    }
    pd.testing.assert_frame_equal(before, after, rtol=1e-6)
    later = clean.predictions["origin"] > pd.Timestamp(CUT)
    assert not np.allclose(
        clean.predictions.loc[later, "point"], scrambled.predictions.loc[later, "point"]
    )


def test_a_batch_gives_what_single_calls_give(stored_models) -> None:
    tiers, _ = load_tiers(["tft", "nhits"], history=90)
    histories = load_prices(PRICES_CSV, SYMBOLS)
    windows = build_windows(histories, START, END, max(t.min_rows for t in tiers))[0][:12]
    for tier in tiers[:2]:
        batch = tier.forecast(windows)
        single = [tier.forecast([w]) for w in windows]
        np.testing.assert_allclose(batch.point, [s.point[0] for s in single], rtol=1e-5)
        np.testing.assert_allclose(batch.confidence, [s.confidence[0] for s in single], atol=1e-5)
