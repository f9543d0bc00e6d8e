"""One scoring of held-out direction probabilities against the base rate, shared by the
studies that try a new input (``gap_study``, ``news_head``): Brier, Brier skill, ECE, the hit
rate with its 95% interval (clustered by day), a Diebold-Mariano test of the daily Brier
losses, and the share of sessions the signal's action rule would trade (BUY or SELL)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest.calibration import brier, ece
from orchestrator.backtest.dm import diebold_mariano
from orchestrator.signals.calibrated import action_of, position_of
from premarket.settings import SignalSettings


def positions(p: np.ndarray, mean_abs_move: np.ndarray, settings: SignalSettings) -> np.ndarray:
    """+1/-1/0 per session: the signal's action rule on P(up) and its expected edge."""
    edge = (2 * np.maximum(p, 1 - p) - 1) * mean_abs_move
    return np.array([position_of(action_of(q, e, settings)) for q, e in zip(p, edge, strict=True)])


def clustered_se(values: np.ndarray, days: np.ndarray) -> float:
    """Standard error of ``values.mean()`` with the sessions of one day as one cluster: the
    symbols of a day share the market's move, so they are not independent draws."""
    residuals = pd.Series(values - values.mean()).groupby(days).sum().to_numpy()
    return math.sqrt(float(residuals @ residuals)) / len(values)


def direction_scores(
    p: np.ndarray, held: pd.DataFrame, base: np.ndarray, settings: SignalSettings
) -> dict[str, Any]:
    """Scores of P(up) ``p`` on ``held`` (columns ``up``, ``target``, ``mean_abs_move``)
    against the base rate's ``base``; no DM test when ``p`` is the base rate itself."""
    up = held["up"].to_numpy(float)
    right = ((p >= 0.5) == (up > 0.5)).astype(float)
    rate = float(right.mean())
    half = 1.96 * clustered_se(right, held["target"].to_numpy())
    daily = pd.Series((p - up) ** 2 - (base - up) ** 2).groupby(held["target"].to_numpy()).mean()
    same = np.allclose(p, base)
    return {
        "brier": brier(p, up),
        "brier_skill": 1.0 - brier(p, up) / brier(base, up),
        "ece": ece(np.maximum(p, 1 - p), right),
        "hit_rate": rate,
        "hit_rate_ci95": [rate - half, rate + half],
        "dm_vs_base_rate": None if same else diebold_mariano(daily.to_numpy()),
        "traded_share": float(
            np.mean(positions(p, held["mean_abs_move"].to_numpy(), settings) != 0)
        ),
    }
