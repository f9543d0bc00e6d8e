"""The one home of performance figures: returns, Sharpe, drawdown, hit rate with its interval.

Paper trading, accuracy tracking and the backtest all report through these, so a figure means the
same everywhere. Conventions, stated once:

- returns are simple daily returns ``equity[t] / equity[t-1] - 1``;
- Sharpe is annualised with 252 trading days, risk-free rate 0, sample standard deviation
  (``ddof=1``); undefined (None) with fewer than 2 returns or no variation;
- max drawdown is the largest fall from a running peak as a fraction of that peak, the peak
  including the starting value; 0 when equity never falls;
- a hit rate comes with its 95% Wilson score interval (sound near 0 and 1 and for small n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

TRADING_DAYS = 252
Z95 = 1.959963984540054


def returns_of(equity: Sequence[float] | np.ndarray) -> np.ndarray:
    """Simple returns between consecutive equity values (steps from a non-positive value skipped)."""
    values = np.asarray(equity, dtype=float)
    before, after = values[:-1], values[1:]
    keep = before > 0
    return after[keep] / before[keep] - 1.0


def sharpe_ratio(returns: Sequence[float] | np.ndarray) -> float | None:
    """Annualised Sharpe ratio of daily returns (see the module conventions)."""
    values = np.asarray(returns, dtype=float)
    if len(values) < 2:
        return None
    std = float(np.std(values, ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return None
    return float(np.mean(values)) / std * math.sqrt(TRADING_DAYS)


def max_drawdown(equity: Sequence[float] | np.ndarray) -> float:
    """The largest fall from a running peak, as a fraction of that peak (0 when none)."""
    values = np.asarray(equity, dtype=float)
    if len(values) == 0:
        return 0.0
    peak = np.maximum.accumulate(values)
    falls = np.where(peak > 0, (peak - values) / np.where(peak > 0, peak, 1.0), 0.0)
    return float(max(0.0, falls.max()))


def performance(returns: Sequence[float] | np.ndarray) -> dict:
    """Total and annual return, Sharpe and max drawdown of a series of daily returns."""
    values = np.asarray(returns, dtype=float)
    if len(values) == 0:
        return {"days": 0}
    equity = np.concatenate(([1.0], np.cumprod(1.0 + values)))
    final = float(equity[-1])
    return {
        "days": len(values),
        "total_return": final - 1.0,
        "annual_return": final ** (TRADING_DAYS / len(values)) - 1.0 if final > 0 else -1.0,
        "sharpe": sharpe_ratio(values),
        "max_drawdown": max_drawdown(equity),
    }


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None when ``n`` is 0."""
    if n == 0:
        return None
    p = hits / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def hit_rate(hits: int, n: int) -> tuple[float | None, tuple[float, float] | None]:
    """A hit rate and its 95% interval; (None, None) when nothing was scored."""
    return (hits / n if n else None), wilson_interval(hits, n)
