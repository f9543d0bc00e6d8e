"""OHLCV rows -> TFT inputs: the one place both training and the predictor derive features.

Every price feature looks back at most ``WARMUP_ROWS`` rows, so a feature computed on a short
request window equals the same feature computed on the full history: training and serving
cannot drift apart however many rows a caller sends. The first ``WARMUP_ROWS`` rows of any
window only feed those look-backs and never reach the model.

Calendar covariates are "known" inputs: the model sees them for the forecast days too, so the
predictor needs the dates of the next sessions. They come from the NYSE calendar
(``exchange_calendars``), with plain weekdays outside the calendar's range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from premarket.risk.estimators import garman_klass
from premarket.risk.features import VARIANCE_FLOOR

TARGET = "log_return"
"""The modelled quantity: the daily log return of the close (row t: log(close_t / close_t-1))."""
VOL_WINDOW = 5
"""Returns in the rolling volatility and volume windows."""
WARMUP_ROWS = VOL_WINDOW
"""Leading rows of a window whose features are incomplete (one for the first return, the rest
for the rolling window); they are dropped before the model."""

PRICE_FEATURES = (
    TARGET,
    "intraday_range",
    "body",
    "overnight_gap",
    "volume_change",
    "volume_ratio",
    "volatility",
    "range_variance",
    "range_variance_week",
)
"""Unknown-in-the-future inputs computed from OHLCV, in column order of :func:`price_features`.
The last two are the log Garman-Klass variance of the day and of its 5-day mean (the risk
model's HAR inputs, :mod:`premarket.risk`); a checkpoint trained before they existed keeps
reading the features it names (``spec["reals"]``)."""
CALENDAR_FEATURES = ("day_of_week", "month", "session_gap")
"""Known-in-the-future inputs computed from dates, in column order of :func:`calendar_features`."""


def price_features(rows: np.ndarray) -> np.ndarray:
    """Features of ``rows`` (n x 5: open, high, low, close, volume; oldest first), n x 9.

    Also takes a stack of equally long windows (b x n x 5 -> b x n x 9), so the predictor
    computes a whole batch at once. The first ``WARMUP_ROWS`` rows are NaN. Log ratios keep the
    features scale-free, so one model serves a $20 and a $2000 stock, and symbols it never saw.
    """
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim not in (2, 3) or rows.shape[-1] != 5:
        raise ValueError(f"rows: expected n x 5 [open, high, low, close, volume], got {rows.shape}")
    open_, high, low, close, volume = np.moveaxis(rows, -1, 0)
    n = rows.shape[-2]
    log_volume = np.log1p(volume)
    out = np.full((*rows.shape[:-1], len(PRICE_FEATURES)), np.nan)
    out[..., 1:, 0] = np.log(close[..., 1:] / close[..., :-1])
    out[..., 1] = np.log(high / low)
    out[..., 2] = np.log(close / open_)
    out[..., 1:, 3] = np.log(open_[..., 1:] / close[..., :-1])
    out[..., 1:, 4] = log_volume[..., 1:] - log_volume[..., :-1]
    if n > VOL_WINDOW:
        window = np.lib.stride_tricks.sliding_window_view
        returns = window(out[..., 1:, 0], VOL_WINDOW, axis=-1)
        out[..., VOL_WINDOW:, 6] = returns.std(axis=-1, ddof=1)
        volumes = window(log_volume[..., 1:], VOL_WINDOW, axis=-1)
        out[..., VOL_WINDOW:, 5] = log_volume[..., VOL_WINDOW:] - volumes.mean(axis=-1)
    gk = np.maximum(garman_klass(open_, high, low, close), VARIANCE_FLOOR)
    out[..., 7] = np.log(gk)
    if n >= VOL_WINDOW:
        week = np.lib.stride_tricks.sliding_window_view(gk, VOL_WINDOW, axis=-1).mean(axis=-1)
        out[..., VOL_WINDOW - 1 :, 8] = np.log(week)
    out[..., :WARMUP_ROWS, :] = np.nan
    return out


def calendar_features(dates: Sequence[dt.date], previous: dt.date | None = None) -> np.ndarray:
    """Features of ``dates`` (n x 3): weekday 0-4, month 1-12, calendar days since the session
    before (``previous`` for the first date; 1 when unknown). Plain numpy: it runs per request."""
    days = np.asarray(dates, dtype="datetime64[D]")
    ordinals = days.astype(np.int64)
    gaps = np.empty(len(days))
    if len(days):
        gaps[1:] = np.diff(ordinals)
        first = np.datetime64(previous, "D").astype(np.int64) if previous is not None else None
        gaps[0] = ordinals[0] - first if first is not None else 1.0
    weekday = (ordinals + 3) % 7  # 1970-01-01 was a Thursday
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return np.column_stack([weekday, month, gaps]).astype(np.float64)


@lru_cache(maxsize=1)
def _nyse():
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS")


@lru_cache(maxsize=256)
def next_sessions(last: dt.date, count: int) -> tuple[dt.date, ...]:
    """The ``count`` NYSE sessions after ``last`` (weekdays when outside the calendar's range).

    Cached: a batch of symbols usually shares its last date."""
    calendar = _nyse()
    start = pd.Timestamp(last) + pd.Timedelta(days=1)
    if (
        calendar.first_session <= start
        and pd.Timestamp(last) + pd.Timedelta(days=3 * count + 10) <= calendar.last_session
    ):
        sessions = calendar.sessions_in_range(start, start + pd.Timedelta(days=3 * count + 10))
        return tuple(s.date() for s in sessions[:count])
    return tuple(d.date() for d in pd.bdate_range(start, periods=count))


def sessions_ending(count: int, last: dt.date | None = None) -> tuple[dt.date, ...]:
    """``count`` consecutive NYSE sessions ending at ``last`` (default: the latest session on
    or before today in New York): the dates assumed for a request that sends none."""
    if last is None:
        last = pd.Timestamp.now(tz="America/New_York").date()
    return _sessions_ending(count, last)


@lru_cache(maxsize=256)
def _sessions_ending(count: int, last: dt.date) -> tuple[dt.date, ...]:
    calendar = _nyse()
    end = pd.Timestamp(last)
    if calendar.first_session <= end - pd.Timedelta(days=2 * count + 10) and (
        end <= calendar.last_session
    ):
        sessions = calendar.sessions_in_range(end - pd.Timedelta(days=2 * count + 10), end)
        if len(sessions) >= count:
            return tuple(s.date() for s in sessions[-count:])
    return tuple(d.date() for d in pd.bdate_range(end=end, periods=count))


def history_frame(prices: pd.DataFrame) -> pd.DataFrame:
    """Per-symbol model frame from the bundled price table (columns symbol, date, OHLCV).

    One row per symbol and session with ``time_idx`` (index of the session among all sessions
    of the table), the raw ``close`` and every feature; warm-up rows are dropped.
    """
    prices = prices.sort_values(["symbol", "date"])
    sessions = {d: i for i, d in enumerate(sorted(prices["date"].unique()))}
    parts = []
    for symbol, group in prices.groupby("symbol", sort=True):
        rows = group[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
        dates = [pd.Timestamp(d).date() for d in group["date"]]
        frame = pd.DataFrame(price_features(rows), columns=list(PRICE_FEATURES))
        frame[list(CALENDAR_FEATURES)] = calendar_features(dates)
        frame.insert(0, "symbol", str(symbol))
        frame.insert(1, "date", dates)
        frame.insert(2, "time_idx", [sessions[d] for d in group["date"]])
        frame["close"] = rows[:, 3]
        parts.append(frame.iloc[WARMUP_ROWS:])
    return pd.concat(parts, ignore_index=True)


def load_prices(path, symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """A price CSV (every symbol, or ``symbols``) as one frame with ``datetime.date`` dates,
    read by the project's strict parser (:mod:`premarket.prices`: a bad row is a
    ``PriceFileError`` naming its line). ``close`` is split-adjusted, as callers send it."""
    from premarket.prices import read_prices

    prices = read_prices(path).long_frame(symbols)
    prices["date"] = prices["date"].dt.date
    return prices
