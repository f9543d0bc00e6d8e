"""Issue 30.2: the overnight-gap study reads nothing after the decision time and finds an
effect where there is one (so its "no skill" on the bundled history means something)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from orchestrator.backtest import load_prices
from orchestrator.backtest.data import History
from orchestrator.backtest.gap_study import gap_features, gap_study
from premarket.data import PRICES_CSV
from premarket.settings import SignalSettings


def _rows(histories: dict[str, History], start: int = 30) -> pd.DataFrame:
    """Decision-shaped rows: origin (the previous session), target, the target's open/close."""
    rows = []
    for symbol, h in histories.items():
        for i in range(start, len(h.dates)):
            rows.append(
                {
                    "symbol": symbol,
                    "origin": pd.Timestamp(h.dates[i - 1]),
                    "target": pd.Timestamp(h.dates[i]),
                    "open": h.rows[i, 0],
                    "close": h.rows[i, 3],
                    "news": 0.0,
                    "articles": 0,
                }
            )
    data = pd.DataFrame(rows)
    data["move"] = data["close"] / data["open"] - 1
    data["up"] = (data["close"] > data["open"]).astype(float)
    return data


def _cut(history: History, until: pd.Timestamp) -> History:
    keep = pd.to_datetime(history.dates) <= until
    return History(history.symbol, history.dates[keep], history.rows[keep])


def test_the_gap_uses_the_open_and_nothing_after_it():
    histories = load_prices(PRICES_CSV, ["AAPL", "MSFT"])
    data = _rows(histories)
    full = gap_features(data, histories)
    for _, row in full.sample(25, random_state=1).iterrows():
        # history only up to the origin (the previous close), the target's open from the row
        known = {s: _cut(h, row["origin"]) for s, h in histories.items()}
        alone = gap_features(data[data["target"] == row["target"]], known)
        mine = alone[alone["symbol"] == row["symbol"]].iloc[0]
        assert np.isclose(mine["gap"], row["gap"]), (row["symbol"], row["target"])
    changed = data.assign(close=data["close"] * 1.5)  # the session's own close: not read
    assert np.allclose(gap_features(changed, histories)["gap"], full["gap"])


def test_a_real_gap_effect_is_found_with_its_sign_and_significance():
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2010-01-04", periods=2000)
    histories = {}
    for symbol in ("A", "B", "C", "D"):
        gap = rng.normal(0, 0.01, len(days))
        # a reversal: after a gap down the session rises 65% of the time
        up = np.where(rng.random(len(days)) < 0.65, gap < 0, gap >= 0)
        open_, close = np.empty(len(days)), np.empty(len(days))
        previous = 100.0
        for k in range(len(days)):
            open_[k] = previous * np.exp(gap[k])
            close[k] = previous = open_[k] * (1.004 if up[k] else 0.996)
        bars = np.column_stack(
            [open_, np.maximum(open_, close), np.minimum(open_, close), close, np.ones(len(days))]
        )
        histories[symbol] = History(symbol, days.values.astype("datetime64[D]"), bars)
    data = _rows(histories)
    data["news"], data["articles"] = rng.normal(0, 0.3, len(data)), 1  # news that says nothing
    study = gap_study(
        data,
        histories,
        start=date(2013, 1, 1),
        end=date(2017, 12, 31),
        settings=SignalSettings(),
        cost_bps=0.0,
    )
    found = study["all"]["gap"]
    assert found["brier_skill"] > 0.01 and found["dm_vs_base_rate"]["p_value"] < 0.001
    assert found["hit_rate_ci95"][0] > 0.6
    assert abs(study["all"]["news"]["brier_skill"]) < 0.01  # noise news: no skill claimed
