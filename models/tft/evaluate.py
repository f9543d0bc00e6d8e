"""Next-close accuracy of a predictor over every (symbol, day) of a period of the price table.

The windows are exactly what a caller would send (raw OHLCV rows and their dates, ending the
session before the day forecast), so the figures measure the served model, not a training-time
proxy. Baselines in the same table keep them honest: a no-change forecast for the MAE, and
"always up" for the direction hit rate.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

CHUNK = 1024
"""Windows per forward pass."""


def windows(
    prices: pd.DataFrame, after: dt.date, until: dt.date | None, max_rows: int, min_rows: int
):
    """Requests ending the session before each day in ``(after, until]``, with the actual close.

    Yields ``((symbol, rows, dates), actual_close)``.
    """
    for symbol, group in prices.sort_values(["symbol", "date"]).groupby("symbol", sort=True):
        rows = group[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
        dates = list(group["date"])
        for j, day in enumerate(dates):
            if day <= after or (until is not None and day > until) or j < min_rows:
                continue
            start = max(0, j - max_rows)
            yield (str(symbol), rows[start:j], dates[start:j]), float(rows[j, 3])


def next_close_metrics(
    predictor, prices: pd.DataFrame, *, after: dt.date, until: dt.date | None
) -> dict[str, float]:
    """MAE, direction hit rate and p10-p90 coverage of the next close over a period."""
    pairs = list(windows(prices, after, until, predictor.max_rows, predictor.min_rows))
    if not pairs:
        return {}
    last, actual, median, p10, p90, confidence = ([] for _ in range(6))
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        for (_, close), forecast in zip(
            chunk, predictor.forecast([r for r, _ in chunk]), strict=True
        ):
            last.append(forecast.current_price)
            actual.append(close)
            median.append(forecast.predicted_price)
            p10.append(forecast.quantiles["p10"])
            p90.append(forecast.quantiles["p90"])
            confidence.append(forecast.confidence)
    last, actual, median, p10, p90 = map(np.asarray, (last, actual, median, p10, p90))
    moved = actual != last
    true_return = np.log(actual / last)
    return {
        "windows": float(len(pairs)),
        "mae_price": float(np.mean(np.abs(median - actual))),
        "mae_return_pct": float(100 * np.mean(np.abs(np.log(median / last) - true_return))),
        "naive_mae_return_pct": float(100 * np.mean(np.abs(true_return))),
        "direction_hit_rate": float(
            np.mean(np.sign(median - last)[moved] == np.sign(actual - last)[moved])
        ),
        "always_up_hit_rate": float(np.mean(actual[moved] > last[moved])),
        "coverage_p10_p90": float(np.mean((p10 <= actual) & (actual <= p90))),
        "mean_confidence": float(np.mean(confidence)),
    }
