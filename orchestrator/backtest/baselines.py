"""The band baselines a forecast band must beat: GARCH(1,1) and the historical quantiles.

GARCH(1,1) with Student-t errors is the standard anchor for daily return ranges (``arch``
package): refitted walk-forward on each symbol's returns up to a refit day, every
``refit_every`` sessions, and between refits run forward with those parameters over the newest
returns, so every band uses data up to its origin only. The historical-quantile band is the
empirical quantiles of the last year of daily log returns. Both answer the TFT's quantile
levels, so pinball losses compare level by level.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from orchestrator.backtest.tiers import TierOutput, Window

LEVELS = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)
"""The quantile levels of both bands (the TFT's)."""
MIN_RETURNS = 60
"""Fewest daily returns either baseline forecasts from (the statistical tier's look-back)."""


def _key(level: float) -> str:
    return f"p{round(level * 100):02d}"


def _log_returns(window: Window, lookback: int) -> np.ndarray:
    closes = window.closes[-(lookback + 1) :]
    return np.diff(np.log(closes))


class HistoricalQuantile:
    """Next close = today's close times the empirical quantiles of the last ``lookback``
    daily log returns; the point is the median, the confidence the share of days on its side."""

    key = "hist_quantile"
    label = "Historical quantiles (baseline)"
    min_rows = MIN_RETURNS + 1
    batch_size = 4096

    def __init__(self, lookback: int = 250) -> None:
        self.lookback = lookback

    def forecast(self, windows: Sequence[Window]) -> TierOutput:
        current = np.array([w.closes[-1] for w in windows], dtype=float)
        bands = np.array(
            [np.quantile(_log_returns(w, self.lookback), LEVELS) for w in windows]
        ).reshape(len(windows), len(LEVELS))
        p_up = np.array([np.mean(_log_returns(w, self.lookback) > 0) for w in windows])
        median = bands[:, LEVELS.index(0.5)]
        return TierOutput(
            point=current * np.exp(median),
            confidence=np.maximum(p_up, 1.0 - p_up),
            quantiles={_key(q): current * np.exp(bands[:, i]) for i, q in enumerate(LEVELS)},
        )


class Garch:
    """GARCH(1,1), constant mean, Student-t errors, on daily log returns in percent."""

    key = "garch"
    label = "GARCH(1,1)-t (baseline)"
    min_rows = MIN_RETURNS + 1
    batch_size = 1024

    def __init__(self, lookback: int = 1000, refit_every: int = 21) -> None:
        self.lookback = lookback
        self.refit_every = refit_every
        self._params: dict[tuple[str, int], np.ndarray] = {}

    def _fitted(self, window: Window) -> np.ndarray:
        """Parameters fitted on returns up to the last refit day at or before the origin (the
        same for every window of a block, however the engine chunks them)."""
        origin = len(window.closes) - 1
        refit_day = max(MIN_RETURNS, origin - origin % self.refit_every)
        key = (window.symbol, refit_day)
        if key not in self._params:
            returns = 100 * np.diff(np.log(window.closes[: refit_day + 1]))[-self.lookback :]
            self._params[key] = _fit(returns)
        return self._params[key]

    def forecast(self, windows: Sequence[Window]) -> TierOutput:
        from scipy import stats

        current = np.array([w.closes[-1] for w in windows], dtype=float)
        params = np.array([self._fitted(w) for w in windows]).reshape(len(windows), 5)
        variance = np.array(
            [
                next_variance(100 * _log_returns(w, self.lookback), p)
                for w, p in zip(windows, params, strict=True)
            ]
        )
        mu, nu = params[:, 0], params[:, 4]
        sigma = np.sqrt(variance) * np.sqrt((nu - 2.0) / nu)  # the t's scale for that variance
        bands = (mu[:, None] + sigma[:, None] * stats.t.ppf(LEVELS, nu[:, None])) / 100
        p_up = np.where(sigma > 0, stats.t.sf(-mu / np.maximum(sigma, 1e-12), nu), 1.0)
        median = bands[:, LEVELS.index(0.5)]
        return TierOutput(
            point=current * np.exp(median),
            confidence=np.maximum(p_up, 1.0 - p_up),
            quantiles={_key(q): current * np.exp(bands[:, i]) for i, q in enumerate(LEVELS)},
        )


def next_variance(returns: np.ndarray, params: np.ndarray) -> float:
    """The one-step-ahead conditional variance of GARCH(1,1) with ``params`` over ``returns``,
    started from ``arch``'s backcast (exponentially weighted first 75 squared residuals), so it
    equals ``arch_model(...).fix(params).forecast(horizon=1)`` without building a model per
    window (a test checks that)."""
    from scipy.signal import lfilter

    mu, omega, alpha, beta = params[:4]
    squared = (returns - mu) ** 2
    weights = 0.94 ** np.arange(min(75, len(squared)))
    backcast = float(weights @ squared[: len(weights)] / weights.sum())
    # sigma2[t] = omega + alpha * e[t-1]^2 + beta * sigma2[t-1], with e[-1]^2 = sigma2[-1] = backcast
    driven = omega + alpha * np.concatenate(([backcast], squared))
    sigma2 = lfilter([1.0], [1.0, -beta], driven, zi=[beta * backcast])[0]
    return float(sigma2[-1])


def _fit(returns: np.ndarray) -> np.ndarray:
    """``[mu, omega, alpha, beta, nu]`` by maximum likelihood; for returns too flat to fit (a
    constant series) a constant-variance model with the sample moments."""
    from arch import arch_model

    fallback = np.array([returns.mean(), max(returns.var(), 0.0), 0.0, 0.0, 30.0])
    if returns.std() < 1e-8:
        return fallback
    model = arch_model(returns, mean="Constant", vol="GARCH", dist="t", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes; a failed fit falls back below
        try:
            result = model.fit(disp="off", show_warning=False)
        except (ValueError, np.linalg.LinAlgError):
            return fallback
    params = result.params.to_numpy(dtype=float)
    return params if np.all(np.isfinite(params)) and result.convergence_flag == 0 else fallback
