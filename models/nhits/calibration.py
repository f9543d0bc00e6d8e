"""Validation metrics and the calibration of confidence and quantiles, from validation residuals.

Both are measured on windows whose targets lie in the time-based validation split, which the
network never trained on:

- confidence: the validation windows are binned by the predicted next-day move in units of the
  window's own daily volatility, ``|pred / last - 1| / sigma``; each bin's confidence is its
  measured direction hit rate (Laplace-smoothed). :class:`NHitsForecaster` looks a new window's
  bin up, so its confidence is an out-of-sample probability that the direction is right.
- quantiles: empirical quantiles of the next-day residual ``log(actual / pred) / sigma``, so the
  p10..p90 band of a calm window is narrow and that of a volatile one wide.
"""

from __future__ import annotations

import numpy as np

from models.nhits.inference import daily_volatility, move_in_sigmas

QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
CONFIDENCE_BINS = 5


def calibrate(inputs: np.ndarray, targets: np.ndarray, paths: np.ndarray) -> dict:
    """Confidence bins and residual quantiles from validation inputs, targets and predictions."""
    last = inputs[:, -1]
    sigma = daily_volatility(inputs)
    edge = move_in_sigmas(last, paths[:, 0], sigma)
    hits = _hits(last, paths[:, 0], targets[:, 0])
    edges = np.quantile(edge, np.arange(1, CONFIDENCE_BINS) / CONFIDENCE_BINS)
    bins = np.searchsorted(edges, edge)
    hit_rates = [
        (hits[bins == b].sum() + 1.0) / ((bins == b).sum() + 2.0) for b in range(CONFIDENCE_BINS)
    ]
    residual = np.log(targets[:, 0] / paths[:, 0]) / sigma
    return {
        "confidence": {
            "edges": [float(e) for e in edges],
            "hit_rates": [round(float(r), 6) for r in hit_rates],
        },
        "quantiles": {name: float(np.quantile(residual, q)) for name, q in QUANTILES.items()},
    }


def metrics(
    inputs: np.ndarray, targets: np.ndarray, paths: np.ndarray, calibration: dict | None = None
) -> dict:
    """MAE and direction hit rate of the model, next to the naive last-close forecast and the
    share of up days (the hit rate of always saying UP), so the figures can be judged; with a
    ``calibration``, also the share of next closes inside its p10-p90 band (0.8 is calibrated;
    on the validation period it is 0.8 by construction, so only the test figure is evidence)."""
    last = inputs[:, -1:]
    hits = _hits(last[:, 0], paths[:, 0], targets[:, 0])
    extra = {}
    if calibration is not None:
        sigma, q = daily_volatility(inputs), calibration["quantiles"]
        low, high = (paths[:, 0] * np.exp(sigma * q[name]) for name in ("p10", "p90"))
        extra["p10_p90_coverage"] = float(((targets[:, 0] >= low) & (targets[:, 0] <= high)).mean())
    return extra | {
        "n_windows": int(len(inputs)),
        "mae": float(np.abs(paths - targets).mean()),
        "naive_mae": float(np.abs(last - targets).mean()),
        "mae_next_day": float(np.abs(paths[:, 0] - targets[:, 0]).mean()),
        "naive_mae_next_day": float(np.abs(last[:, 0] - targets[:, 0]).mean()),
        "mape_percent": float(100 * (np.abs(paths - targets) / targets).mean()),
        "naive_mape_percent": float(100 * (np.abs(last - targets) / targets).mean()),
        "direction_hit_rate": float(hits.mean()),
        "up_day_share": float((targets[:, 0] > last[:, 0]).mean()),
    }


def _hits(last: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    return np.sign(predicted - last) == np.sign(actual - last)
