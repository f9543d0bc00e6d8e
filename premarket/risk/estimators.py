"""Daily variance estimators from one OHLC bar, as fractions (log-return units squared).

Each estimates the variance of the session's open-to-close log return from the bar's own
prices; the range-based ones use the high and the low, which carry several times the information
of the close alone (Parkinson 1980; Garman and Klass 1980; Rogers and Satchell 1991). The
overnight part (the previous close to the open) is kept apart: a pre-market forecast knows
yesterday's gap, never today's.
"""

from __future__ import annotations

import math

import numpy as np

_GK_CLOSE = 2.0 * math.log(2.0) - 1.0


def _logs(*arrays) -> list[np.ndarray]:
    return [np.log(np.asarray(a, dtype=float)) for a in arrays]


def log_range(high, low) -> np.ndarray:
    """``log(high / low)``: the session's high-low range."""
    h, lo = _logs(high, low)
    return h - lo


def open_to_close(open_, close) -> np.ndarray:
    """``log(close / open)``: the session's return, the one a pre-market signal can trade."""
    o, c = _logs(open_, close)
    return c - o


def overnight(previous_close, open_) -> np.ndarray:
    """``log(open / previous close)``: the gap before the session."""
    p, o = _logs(previous_close, open_)
    return o - p


def parkinson(high, low) -> np.ndarray:
    """``log(H/L)^2 / (4 log 2)``: unbiased for a driftless Brownian motion."""
    return log_range(high, low) ** 2 / (4.0 * math.log(2.0))


def garman_klass(open_, high, low, close) -> np.ndarray:
    """``0.5 log(H/L)^2 - (2 log 2 - 1) log(C/O)^2``: the range with the session's return."""
    return 0.5 * log_range(high, low) ** 2 - _GK_CLOSE * open_to_close(open_, close) ** 2


def rogers_satchell(open_, high, low, close) -> np.ndarray:
    """``u (u - c) + d (d - c)`` with ``u, d, c`` the high, low and close over the open: unbiased
    whatever the drift."""
    o, h, lo, c = _logs(open_, high, low, close)
    u, d, r = h - o, lo - o, c - o
    return u * (u - r) + d * (d - r)
