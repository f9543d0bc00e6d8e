"""What the risk forecast is worth in a book: the same trades sized by it, and held by it.

- **Session trades** (what a pre-market signal can trade): each target session, a tier's
  direction (its next-close forecast against the origin close) is traded from the session's open
  to its close, equally weighted across symbols. *Fixed* holds one unit; *risk-sized* holds
  ``min(2, normal / sigma_oc)`` units, the symbol's normal risk over today's forecast, so a day
  forecast twice as risky is traded half as large and the average size stays about one unit.
  Each session pays ``cost_bps`` on entry and on exit.
- **Buy-and-hold**, long every symbol, rebalanced at each session's open and held to the next
  open: *plain* holds one unit; *volatility-managed* (Moreira and Muir 2017) holds
  ``min(2, (normal / sigma_oc)^2)``, inverse to the forecast variance. Costs on every change.

Both sizes use only the forecast made before the session's open.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest.data import History
from orchestrator.tracking.metrics import performance

CAP = 2.0
"""Largest position, in units of the fixed one."""


def _sessions(histories: dict[str, History]) -> pd.DataFrame:
    frames = []
    for s, h in histories.items():
        o, c = h.rows[:, 0], h.rows[:, 3]
        next_open = np.append(o[1:], np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": s,
                    "date": h.dates,
                    "session_return": c / o - 1.0,
                    "hold_return": next_open / o - 1.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _book(
    frame: pd.DataFrame, size: np.ndarray, returns: str, turnover: np.ndarray, cost_bps: float
) -> dict[str, Any]:
    net = size * frame[returns].to_numpy() - turnover * cost_bps / 10_000.0
    daily = pd.Series(net, index=frame["date"].to_numpy()).groupby(level=0).mean().sort_index()
    result = performance(daily.to_numpy())
    result["mean_size"] = float(np.mean(np.abs(size)))
    result["turnover_per_day"] = float(np.mean(turnover))
    return result


def sizing_comparison(
    risk_rows: pd.DataFrame,
    predictions: pd.DataFrame,
    histories: dict[str, History],
    cost_bps: float,
    tier: str,
) -> dict[str, Any]:
    """The four books on the sessions where the risk forecast, its normal and ``tier`` exist."""
    own = risk_rows[(risk_rows["forecaster"] == "risk") & risk_rows["normal"].notna()]
    calls = predictions[predictions["tier"] == tier][["symbol", "target", "point", "current"]]
    calls = calls.rename(columns={"target": "date"})
    frame = (
        own[["symbol", "date", "sigma_oc", "normal"]]
        .merge(calls, on=["symbol", "date"])
        .merge(_sessions(histories), on=["symbol", "date"])
        .sort_values(["symbol", "date"], kind="stable")
        .reset_index(drop=True)
    )
    frame = frame[np.isfinite(frame["hold_return"])]
    if frame.empty:
        return {"skipped": f"no session has both the risk forecast and the {tier} tier"}
    direction = np.sign(frame["point"].to_numpy() - frame["current"].to_numpy())
    scale = frame["normal"].to_numpy() / frame["sigma_oc"].to_numpy()
    risk_size = np.minimum(CAP, scale)
    managed = np.minimum(CAP, scale**2)

    def changes(size: np.ndarray) -> np.ndarray:
        previous = pd.Series(size).groupby(frame["symbol"].to_numpy()).shift(1, fill_value=0.0)
        return np.abs(size - previous.to_numpy())

    ones = np.ones(len(frame))
    return {
        "tier": tier,
        "sessions": int(frame["date"].nunique()),
        "cost_bps": cost_bps,
        "session_fixed": _book(frame, direction, "session_return", 2 * np.abs(direction), cost_bps),
        "session_risk_sized": _book(
            frame,
            direction * risk_size,
            "session_return",
            2 * risk_size * np.abs(direction),
            cost_bps,
        ),
        "buy_and_hold": _book(frame, ones, "hold_return", changes(ones), cost_bps),
        "vol_managed_hold": _book(frame, managed, "hold_return", changes(managed), cost_bps),
    }


def sizing_table(block: dict[str, Any]):
    from rich.table import Table

    table = Table(
        title=f"Sizing by the risk forecast ({block['tier']} direction, open to close; "
        f"{block['sessions']} sessions, {block['cost_bps']:g} bp per side)",
        title_justify="left",
    )
    for column in ("book", "Sharpe", "total", "max drawdown", "mean size", "turnover/day"):
        table.add_column(column, justify="left" if column == "book" else "right")
    names = {
        "session_fixed": "session trades, fixed size",
        "session_risk_sized": "session trades, risk-sized",
        "buy_and_hold": "buy-and-hold",
        "vol_managed_hold": "buy-and-hold, volatility-managed",
    }
    for key, name in names.items():
        book = block[key]
        sharpe = "-" if book.get("sharpe") is None else f"{book['sharpe']:.2f}"
        table.add_row(
            name,
            sharpe,
            f"{100 * book['total_return']:+.1f}%",
            f"{100 * book['max_drawdown']:.1f}%",
            f"{book['mean_size']:.2f}",
            f"{book['turnover_per_day']:.2f}",
        )
    return table
