"""The inputs of the risk forecast, per symbol and origin (the close a forecast is made at).

Every feature at origin ``t`` is made from bars up to and including ``t``; the target is the
next session (``t + 1``), whose bar no feature ever reads (a test changes that bar and every
later one and checks that no forecast moves). The groups:

- HAR structure (Corsi 2009): the log Garman-Klass variance of the day, and the log of its
  5-, 22- and 63-session means;
- the overnight part: the log mean squared gap of the last 5 sessions, kept apart from the
  intraday variance it does not measure;
- leverage: down closes and down sessions raise the next session's risk, up ones do not;
- volume: today's and this week's volume against the quarter's (abnormal trading precedes
  abnormal ranges);
- the earnings cycle: the largest gap and the largest day about one quarter (59-65 sessions)
  ago, against their usual level; US companies report quarterly, so a symbol whose big day
  was a quarter ago is likely to be near its next one;
- the market: the cross-sectional mean of the universe's day, week and month features on the
  same date (a universe of one is its own market).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from premarket.risk import estimators

OWN = (
    "day",
    "week",
    "month",
    "quarter",
    "overnight_week",
    "down_close",
    "down_week",
    "down_session",
    "abs_session",
    "volume_day",
    "volume_week",
    "earnings_gap",
    "earnings_var",
)
MARKET = ("market_day", "market_week", "market_month")
FEATURES = (*OWN, *MARKET)
"""Column order of the panel model's design matrix (after the intercept)."""
MIN_BARS = 67
"""Bars before a first forecast: the quarter mean (63) and the earnings look-back (66)."""
VARIANCE_FLOOR = 1e-8
"""A bar with no range (high equals low) still gets a finite log variance."""
GAP_FLOOR = 1e-6
"""Added to squared gaps before their log (a week of flat opens is common)."""
EARNINGS_LAGS = (59, 65)
"""Sessions back (inclusive) searched for last quarter's big day."""


@dataclass(frozen=True)
class SymbolBars:
    """One symbol's daily bars, oldest first, as float arrays."""

    symbol: str
    dates: np.ndarray
    """``datetime64[D]``."""
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_arrays(cls, symbol: str, dates, open_, high, low, close, volume) -> SymbolBars:
        def floats(a) -> np.ndarray:
            return np.asarray(a, dtype=float)

        return cls(
            symbol,
            _days(dates),
            floats(open_),
            floats(high),
            floats(low),
            floats(close),
            floats(volume),
        )

    def __len__(self) -> int:
        return len(self.dates)

    def garman_klass(self) -> np.ndarray:
        """Each bar's Garman-Klass variance, floored (see :data:`VARIANCE_FLOOR`)."""
        gk = estimators.garman_klass(self.open, self.high, self.low, self.close)
        return np.maximum(gk, VARIANCE_FLOOR)


def _days(dates) -> np.ndarray:
    """``datetime64[D]`` from an array of them or from Python dates (by their ordinals: a
    thousand-date tuple converts 10 times faster than through ``np.asarray``)."""
    if isinstance(dates, np.ndarray):
        return dates.astype("datetime64[D]")
    epoch = 719163  # date(1970, 1, 1).toordinal()
    return (np.fromiter((d.toordinal() for d in dates), np.int64) - epoch).astype("datetime64[D]")


def trailing_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``x[t-n+1 .. t]`` at each ``t`` (NaN for the first ``n - 1``)."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1 :] = sliding_window_view(x, n).mean(axis=1)
    return out


def _lagged_max(x: np.ndarray, first: int, last: int) -> np.ndarray:
    """Max of ``x[t-last .. t-first]`` at each ``t`` (NaN where that reaches before the start)."""
    out = np.full(len(x), np.nan)
    width = last - first + 1
    if len(x) > last:
        out[last:] = sliding_window_view(x, width).max(axis=1)[: len(x) - last]
    return out


def own_features(bars: SymbolBars) -> dict[str, np.ndarray]:
    """The symbol's own features at every origin (NaN before enough bars)."""
    gk = bars.garman_klass()
    gap = np.full(len(bars), np.nan)
    gap[1:] = estimators.overnight(bars.close[:-1], bars.open[1:])
    gap2 = np.nan_to_num(gap**2)
    close_return = np.zeros(len(bars))
    close_return[1:] = np.diff(np.log(bars.close))
    session = estimators.open_to_close(bars.open, bars.close)
    volume = np.log(np.maximum(bars.volume, 1.0))
    volume_quarter = np.log(trailing_mean(np.exp(volume), 63))
    quarter = np.log(trailing_mean(gk, 63))
    overnight_week = np.log(trailing_mean(gap2, 5) + GAP_FLOOR)
    first, last = EARNINGS_LAGS
    features = {
        "day": np.log(gk),
        "week": np.log(trailing_mean(gk, 5)),
        "month": np.log(trailing_mean(gk, 22)),
        "quarter": quarter,
        "overnight_week": overnight_week,
        "down_close": np.minimum(close_return, 0.0),
        "down_week": trailing_mean(np.minimum(close_return, 0.0), 5),
        "down_session": np.minimum(session, 0.0),
        "abs_session": np.abs(session),
        "volume_day": volume - volume_quarter,
        "volume_week": np.log(trailing_mean(np.exp(volume), 5)) - volume_quarter,
        "earnings_gap": np.log(_lagged_max(gap2, first, last) + GAP_FLOOR) - overnight_week,
        "earnings_var": np.log(_lagged_max(gap2 + gk, first, last)) - quarter,
    }
    for values in features.values():
        values[: MIN_BARS - 1] = np.nan
    return features


def market_features(
    dates: dict[str, np.ndarray], own: dict[str, dict[str, np.ndarray]]
) -> dict[str, dict[str, np.ndarray]]:
    """Per symbol, the universe's mean day, week and month features on each of its dates (the
    symbols with a value that date)."""
    symbols = list(own)
    if not symbols:
        return {}
    every, where = np.unique(np.concatenate([dates[s] for s in symbols]), return_inverse=True)
    bounds = np.cumsum([0] + [len(dates[s]) for s in symbols])
    result: dict[str, dict[str, np.ndarray]] = {s: {} for s in symbols}
    for name, source in zip(MARKET, ("day", "week", "month"), strict=True):
        values = np.concatenate([own[s][source] for s in symbols])
        ok = np.isfinite(values)
        total = np.bincount(where[ok], weights=values[ok], minlength=len(every))
        count = np.bincount(where[ok], minlength=len(every))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        for i, s in enumerate(symbols):
            result[s][name] = mean[where[bounds[i] : bounds[i + 1]]]
    return result
