"""Daily variance estimators from one OHLC bar, as fractions (log-return units squared).

Garman-Klass estimates the variance of the session's open-to-close log return from the bar's
own prices; the high and the low carry several times the information of the close alone
(Parkinson 1980; Garman and Klass 1980). It is the risk model's one variance measure (the
Parkinson and Rogers-Satchell estimators were not used, so they are not kept here). The
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


def garman_klass(open_, high, low, close) -> np.ndarray:
    """``0.5 log(H/L)^2 - (2 log 2 - 1) log(C/O)^2``: the range with the session's return."""
    return 0.5 * log_range(high, low) ** 2 - _GK_CLOSE * open_to_close(open_, close) ** 2
