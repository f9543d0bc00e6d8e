"""Does the overnight gap tell the session's direction? (issue 30.2)

A run at or after the open (an "open" slot, e.g. 09:35 New York) could see the gap from the
previous close to the session's open, which Ghosh, Neufeld and Sahoo (2022) found the most
important feature for open-to-close direction on S&P 500 stocks. This measures it on the
bundled history, the same way the decision model is measured: a logistic model fitted on every
year before the test year and scored on the test year only, with the base rate (the fit years'
up share), the news feature alone, the gap alone, the gap with the news, and the gap, the news
and their product. The gap is scaled by the symbol's daily volatility over the 20 sessions up
to the previous close (known before the open), so one weight fits every symbol. Its sign is
free: a reversal (negative weight) is as welcome as a continuation.

The pre-open runs stay pre-open: nothing here reaches the live signal unless the held-out data
support it. A gap-based trade could only be entered after the open, so its book fills at the
open plus a stated slippage, shown for several slippages.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest.data import History
from orchestrator.backtest.direction_scores import direction_scores, positions
from orchestrator.backtest.signal_eval import between, fold_years, strategy, year_folds
from premarket.decision import L2, fit_logistic, sigmoid
from premarket.settings import SignalSettings

VARIANTS = {
    "base_rate": [],
    "news": ["news"],
    "gap": ["gap"],
    "gap_news": ["gap", "news"],
    "gap_x_news": ["gap", "news", "gap_x_news"],
}
VOL_WINDOW = 20
SLIPPAGES_BPS = (0.0, 2.0, 5.0, 10.0)


def gap_features(data: pd.DataFrame, histories: dict[str, History]) -> pd.DataFrame:
    """``data`` with ``gap`` (log open over the previous close, in units of the symbol's daily
    volatility up to that close) and ``gap_x_news``; rows without 20 sessions before dropped."""
    scale = []
    for symbol, history in histories.items():
        close = pd.Series(history.closes, index=pd.to_datetime(history.dates))
        vol = np.log(close).diff().rolling(VOL_WINDOW).std()
        scale.append(
            pd.DataFrame(
                {"symbol": symbol, "origin": vol.index, "vol": vol.values, "prior": close.values}
            )
        )
    found = data.merge(pd.concat(scale), on=["symbol", "origin"], how="left")
    found = found[found["vol"] > 0].copy()
    found["gap"] = np.log(found["open"] / found["prior"]) / found["vol"]
    found["gap_x_news"] = found["gap"] * found["news"]
    return found.reset_index(drop=True)


def _signed(x: np.ndarray) -> np.ndarray:
    """Each column and its negative: non-negative weights on both are a free-signed weight."""
    return np.hstack([x, -x])


def walk_forward(data: pd.DataFrame, years: list[int], l2: float = L2) -> pd.DataFrame:
    """The held-out rows with ``p_<variant>`` for every variant, one fold per test year."""
    y = data["up"].to_numpy(float)
    x = {
        name: _signed(data[cols].to_numpy(float)) if cols else np.zeros((len(data), 0))
        for name, cols in VARIANTS.items()
    }
    held = []
    for _, train, test in year_folds(data, years):
        part = data[test].copy()
        for name, features in x.items():
            intercept, weights, _ = fit_logistic(features[train], y[train], l2)
            part[f"p_{name}"] = sigmoid(intercept + features[test] @ weights)
        part["mean_abs_move"] = float(np.mean(np.abs(data["move"][train])))
        held.append(part)
    return pd.concat(held, ignore_index=True) if held else data.iloc[:0]


def _book(held: pd.DataFrame, p: np.ndarray, settings: SignalSettings, cost_bps: float) -> dict:
    """One unit per BUY/SELL, in at the open plus a slippage, out at the close, after
    ``cost_bps`` per side: the trades, and per slippage the mean net return of a trade and the
    book's Sharpe ratio (``signal_eval.strategy``)."""
    side = positions(p, held["mean_abs_move"].to_numpy(), settings)
    traded = side != 0
    books = {}
    for slip in SLIPPAGES_BPS:
        per_side = cost_bps + slip / 2  # the slippage is paid once, on the way in
        net = side * held["move"].to_numpy() - np.abs(side) * 2 * per_side / 10_000
        books[f"{slip:g}bp"] = {
            "bp_per_trade": float(net[traded].mean() * 10_000) if traded.any() else None,
            "sharpe": strategy(held, side, per_side).get("sharpe"),
        }
    return {"trades": int(traded.sum()), "by_slippage": books}


def _scores(held: pd.DataFrame, settings: SignalSettings, cost_bps: float) -> dict[str, Any]:
    base = held["p_base_rate"].to_numpy()
    out: dict[str, Any] = {"rows": len(held)}
    for name in VARIANTS:
        p = held[f"p_{name}"].to_numpy()
        out[name] = {
            **direction_scores(p, held, base, settings),
            "book": _book(held, p, settings, cost_bps),
        }
    return out


def gap_study(
    data: pd.DataFrame,
    histories: dict[str, History],
    *,
    start: date,
    end: date,
    settings: SignalSettings,
    cost_bps: float,
) -> dict[str, Any]:
    """The ``gap`` block of the backtest JSON: every variant on all held-out sessions in
    ``[start, end]`` and on those with news, each against the base rate."""
    held = walk_forward(gap_features(data, histories), fold_years(start, end))
    held = between(held, start, end)
    with_news = held[held["articles"] > 0]
    return {
        "method": "logistic, walk-forward by year; gap = log(open / previous close) / 20-day vol",
        "all": _scores(held, settings, cost_bps),
        "with_news": _scores(with_news, settings, cost_bps) if len(with_news) else None,
        "slippages_bps": list(SLIPPAGES_BPS),
        "cost_bps_per_side": cost_bps,
    }
