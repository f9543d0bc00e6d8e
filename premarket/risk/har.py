"""HAR-log (Corsi 2009) on one symbol's daily Garman-Klass variance.

``log GK[t+1] = b0 + b1 log GK[t] + b2 log mean(GK[t-4..t]) + b3 log mean(GK[t-21..t]) + e``,
fitted by least squares on the symbol's own past and turned into a variance forecast with the
log-normal correction ``exp(fit + s^2 / 2)``. It is both the anchor the backtest must beat (an
expanding window refitted every 21 sessions) and, with a trailing window refitted at every
origin, an input of the panel model. The fits of all origins are computed at once from running
sums of the normal equations, so a symbol's thousand forecasts cost a few array operations.
"""

from __future__ import annotations

import numpy as np

from premarket.risk.features import trailing_mean

HAR_MONTH = 22
"""Sessions in the HAR's monthly mean (the bars a first design row needs)."""
MIN_FIT = 250
"""Fewest (origin, next day) pairs a fit needs; fewer give NaN."""


def har_design(gk: np.ndarray) -> np.ndarray:
    """``[1, log day, log week, log month]`` at each origin (NaN rows before 22 bars)."""
    return np.column_stack(
        [
            np.ones(len(gk)),
            np.log(gk),
            np.log(trailing_mean(gk, 5)),
            np.log(trailing_mean(gk, HAR_MONTH)),
        ]
    )


def har_forecast(gk: np.ndarray, *, window: int | None = None, refit_every: int = 1) -> np.ndarray:
    """Next-session variance forecast at every origin of ``gk`` (floored Garman-Klass variances).

    The fit used at origin ``t`` is the one made at ``t - t % refit_every`` from the pairs
    ``(x[s], log gk[s+1])`` with ``s + 1`` at or before that fit day, and with ``s`` within the
    last ``window`` origins (all of them when ``window`` is None).
    """
    x = har_design(gk)
    n, k = x.shape
    y = np.full(n, np.nan)
    y[:-1] = np.log(gk[1:])
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
    xs = np.where(ok[:, None], x, 0.0)
    ys = np.where(ok, y, 0.0)

    # running sums over pairs s < t: index t holds the sums of pairs 0..t-1
    def running(values: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])

    sxx = running(xs[:, :, None] * xs[:, None, :])
    sxy = running(xs * ys[:, None])
    syy = running(ys**2)
    cnt = running(ok.astype(float))
    forecast = np.full(n, np.nan)
    fit_day = np.arange(n) - np.arange(n) % refit_every
    # pairs usable at fit day f: s + 1 <= f, i.e. s <= f - 1, i.e. the sums at index f
    hi = fit_day
    lo = np.zeros(n, dtype=int) if window is None else np.maximum(hi - window, 0)
    a = sxx[hi] - sxx[lo]
    b = sxy[hi] - sxy[lo]
    count = cnt[hi] - cnt[lo]
    usable = (count >= MIN_FIT) & np.isfinite(x).all(axis=1)
    if not usable.any():
        return forecast
    a, b, count = a[usable], b[usable], count[usable]
    # the pseudo-inverse: a flat stretch (constant variance) makes the system singular, and
    # its least-squares answer is still the right forecast
    coef = np.einsum("tij,tj->ti", np.linalg.pinv(a), b)
    sse = (syy[hi] - syy[lo])[usable] - 2 * np.einsum("ij,ij->i", coef, b)
    sse += np.einsum("ij,ijk,ik->i", coef, a, coef)
    residual = np.maximum(sse, 0.0) / np.maximum(count - k, 1.0)
    forecast[usable] = np.exp(np.einsum("ij,ij->i", x[usable], coef) + residual / 2.0)
    return forecast
