"""Scores of a set of next-close forecasts: errors, direction skill and the band.

Plain numpy on arrays of the same length: ``current`` (the close the forecast was made at),
``actual`` (the next close), ``point`` (the forecast) and, for banded tiers, quantiles by key
(``p10``...). The exact binomial test is written out (log factorials) so the orchestrator does
not need scipy; the tests check it against ``scipy.stats.binomtest``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from orchestrator.tracking.metrics import wilson_interval

"""The two-sided 95% quantile of the standard normal."""


def quantile_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The band columns (``p10``...) present, without the missing ones of unbanded tiers."""
    return {
        c: frame[c].to_numpy()
        for c in frame.columns
        if c.startswith("p") and c[1:].replace(".", "", 1).isdigit() and frame[c].notna().all()
    }


def level_of(key: str) -> float:
    """The probability level of a quantile key: ``p10`` -> 0.10, ``p2.5`` -> 0.025."""
    return float(key.removeprefix("p")) / 100.0


def mae(point: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(point - actual)))


def mape(point: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    return float(100.0 * np.mean(np.abs(point - actual) / np.abs(actual)))


def mase(
    point: np.ndarray, actual: np.ndarray, current: np.ndarray, groups: np.ndarray | None = None
) -> float | None:
    """MAE relative to the random walk's on the same days (below 1: better than no change).

    With ``groups`` (the symbol of each row) it is the mean of each symbol's own MASE, so a
    $500 stock does not outweigh a $50 one.
    """
    if groups is not None:
        scores = [mase(point[m], actual[m], current[m]) for m in (groups == g for g in set(groups))]
        valid = [x for x in scores if x is not None]
        return float(np.mean(valid)) if valid else None
    naive = float(np.mean(np.abs(actual - current)))
    return mae(point, actual) / naive if naive > 0 else None


def binomial_p_value(hits: int, n: int, p: float) -> float | None:
    """Exact two-sided binomial test of ``hits`` in ``n`` against rate ``p``.

    Sums the probabilities of every outcome no more likely than the one observed (the
    definition ``scipy.stats.binomtest`` uses), in log space so large ``n`` cannot underflow.
    """
    if n == 0:
        return None
    if p <= 0.0 or p >= 1.0:
        return 1.0 if hits == (0 if p <= 0.0 else n) else 0.0
    ks = np.arange(n + 1)
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1)))))
    log_pmf = log_fact[n] - log_fact[ks] - log_fact[n - ks] + ks * math.log(p)
    log_pmf += (n - ks) * math.log1p(-p)
    observed = log_pmf[hits]
    tail = log_pmf[log_pmf <= observed + math.log1p(1e-7)]
    return float(min(1.0, np.exp(tail).sum()))


def mcc(predicted_up: np.ndarray, actual_up: np.ndarray) -> float:
    """Matthews correlation of up/down calls (0 when a side is never called or never happens)."""
    tp = float(np.sum(predicted_up & actual_up))
    tn = float(np.sum(~predicted_up & ~actual_up))
    fp = float(np.sum(predicted_up & ~actual_up))
    fn = float(np.sum(~predicted_up & actual_up))
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denom if denom > 0 else 0.0


def direction_scores(current: np.ndarray, point: np.ndarray, actual: np.ndarray) -> dict:
    """Hit rate of the called direction on days it called one and the price moved.

    ``p_vs_half`` tests the hit rate against a coin; ``p_vs_always_up`` against the hit rate
    that calling UP every one of those days would have had (stocks rise on most days, so 50%
    is too easy a bar).
    """
    called = np.sign(point - current)
    moved = np.sign(actual - current)
    scored = (called != 0) & (moved != 0)
    n = int(scored.sum())
    hits = int(np.sum(called[scored] == moved[scored]))
    up_rate = float(np.mean(moved[scored] > 0)) if n else None
    interval = wilson_interval(hits, n)
    return {
        "days_called": n,
        "hit_rate": hits / n if n else None,
        "hit_rate_ci95": list(interval) if interval else None,
        "always_up_rate": up_rate,
        "p_vs_half": binomial_p_value(hits, n, 0.5),
        "p_vs_always_up": binomial_p_value(hits, n, up_rate) if n else None,
        "mcc": mcc(called[scored] > 0, moved[scored] > 0) if n else None,
    }


def pinball(actual: np.ndarray, quantile: np.ndarray, tau: float) -> np.ndarray:
    """The pinball (quantile) loss of each forecast of the ``tau`` quantile."""
    diff = actual - quantile
    return np.maximum(tau * diff, (tau - 1.0) * diff)


def winkler_score(
    actual: np.ndarray, low: np.ndarray, high: np.ndarray, alpha: float
) -> np.ndarray:
    """The interval (Winkler) score of each central ``1 - alpha`` band: its width, plus
    ``2 / alpha`` times the distance by which the actual falls outside (lower is better; it
    rewards sharp bands only when they also cover)."""
    below = np.maximum(low - actual, 0.0)
    above = np.maximum(actual - high, 0.0)
    return (high - low) + (2.0 / alpha) * (below + above)


def band_scores(actual: np.ndarray, quantiles: dict[str, np.ndarray]) -> dict:
    """Coverage of the p10-p90 band, mean pinball loss and each quantile's observed level."""
    if not quantiles:
        return {
            "coverage_p10_p90": None, "winkler_p10_p90": None, "pinball": None,
            "pinball_per_quantile": None, "calibration": None,
        }  # fmt: skip
    losses = {
        key: float(np.mean(pinball(actual, q, level_of(key)))) for key, q in quantiles.items()
    }
    coverage = winkler = None
    if "p10" in quantiles and "p90" in quantiles:
        inside = (actual >= quantiles["p10"]) & (actual <= quantiles["p90"])
        coverage = float(np.mean(inside))
        winkler = float(np.mean(winkler_score(actual, quantiles["p10"], quantiles["p90"], 0.2)))
    return {
        "coverage_p10_p90": coverage,
        "winkler_p10_p90": winkler,
        "pinball": float(np.mean(list(losses.values()))),
        "pinball_per_quantile": dict(sorted(losses.items(), key=lambda kv: level_of(kv[0]))),
        "calibration": {
            key: float(np.mean(actual <= q))
            for key, q in sorted(quantiles.items(), key=lambda kv: level_of(kv[0]))
        },
    }


def accuracy(
    current: np.ndarray,
    point: np.ndarray,
    actual: np.ndarray,
    quantiles: dict[str, np.ndarray],
    groups: np.ndarray | None = None,
) -> dict:
    """Every score of one tier on one set of days (``groups``: see :func:`mase`)."""
    return {
        "days": len(actual),
        "mae": mae(point, actual),
        "mape_pct": mape(point, actual),
        "mase": mase(point, actual, current, groups),
        **direction_scores(current, point, actual),
        **band_scores(actual, quantiles),
    }
