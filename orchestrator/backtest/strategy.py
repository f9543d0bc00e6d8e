"""The simplest way to trade a tier's signal, to see whether its skill survives costs.

**Close-to-close, not tradable before the open**: these books enter at the origin's close, the
close the forecast was made from, which a pre-market signal made after that close cannot get.
They measure the next-close forecast's skill, labelled so (``TRADE``) wherever they are shown;
the tradable books are the open-to-close ones (``signal_run``, ``risk_strategy``).

At each origin's close the tier's forecast becomes a recommendation exactly as the services
derive it (``signal_score`` from direction and confidence, then BUY/SELL/HOLD past a
threshold); the strategy is long one unit on BUY, short on SELL and flat on HOLD until the next
close. Every unit of position change pays ``cost_bps``. Symbols are equally weighted each day.
Buy-and-hold is the same book, always long.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestrator.tracking.metrics import performance
from premarket.protocol import direction_of, recommendation_of, signal_score

POSITION = {"BUY": 1.0, "SELL": -1.0, "HOLD": 0.0}
TRADE = "close-to-close, not tradable before the open"
"""What these books trade, as every table, chart and JSON block that shows them says."""


def positions(frame: pd.DataFrame, threshold: float) -> np.ndarray:
    """+1, -1 or 0 per row, from the recommendation the services would answer."""
    return np.array(
        [
            POSITION[recommendation_of(signal_score(direction_of(p - c), conf), threshold)]
            for p, c, conf in zip(
                frame["point"], frame["current"], frame["confidence"], strict=True
            )
        ]
    )


def daily_returns(frame: pd.DataFrame, position: np.ndarray, cost_bps: float) -> pd.DataFrame:
    """Net return of each (symbol, target day) for the given positions, after costs."""
    book = frame[["symbol", "target", "current", "actual"]].copy()
    book["position"] = position
    book = book.sort_values(["symbol", "target"], kind="stable")
    previous = book.groupby("symbol")["position"].shift(1, fill_value=0.0)
    book["turnover"] = (book["position"] - previous).abs()
    book["net"] = book["position"] * (book["actual"] / book["current"] - 1.0)
    book["net"] -= book["turnover"] * cost_bps / 10_000.0
    return book


def evaluate(frame: pd.DataFrame, position: np.ndarray, cost_bps: float) -> tuple[dict, pd.Series]:
    """The book's performance, overall (equal weight) and per symbol, and its equity curve."""
    book = daily_returns(frame, position, cost_bps)
    portfolio = book.groupby("target")["net"].mean().sort_index()
    result = performance(portfolio.to_numpy())
    result["exposure"] = float(np.mean(book["position"] != 0))
    result["trades"] = int(np.count_nonzero(book["turnover"]))
    result["per_symbol"] = {
        symbol: performance(part["net"].to_numpy()) for symbol, part in book.groupby("symbol")
    }
    return result, (1.0 + portfolio).cumprod()
