"""Do the percentages mean what they say? Brier score, ECE and reliability, per tier and signal.

Every probability here is of :mod:`premarket.target`'s event (the session moves up, open to
close). A forecaster that calls a direction with a confidence ``c`` says "P(up) = c" for an UP
call and "P(up) = 1 - c" for a DOWN call; the Brier score is the mean squared error of that P(up)
against the outcome (0 or 1), the same number as the squared error of ``c`` against "the call was
right". The expected calibration error (ECE) compares, in 10 equal-width bins of the stated
confidence, the mean confidence with the share of calls that were right, weighted by the bin's
size: what a trader reading "62%" should expect.

The always-up baseline says UP every session with the up rate of the sessions before the
period (known at the time, no look-ahead); its Brier score sits beside every tier's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest.data import History
from orchestrator.tracking.metrics import wilson_interval
from premarket import target

BINS = 10


def brier(probability_up: np.ndarray, up: np.ndarray) -> float:
    return float(np.mean((np.asarray(probability_up, float) - np.asarray(up, float)) ** 2))


def ece(confidence: np.ndarray, right: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error with ``bins`` equal-width bins on [0, 1] (1.0 in the last)."""
    confidence, right = np.asarray(confidence, float), np.asarray(right, float)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(index):
        inside = index == b
        total += inside.sum() * abs(confidence[inside].mean() - right[inside].mean())
    return float(total / len(confidence)) if len(confidence) else float("nan")


def reliability(probability_up: np.ndarray, up: np.ndarray, bins: int = BINS) -> list[dict]:
    """Mean stated P(up) and observed up rate in ``bins`` equal-count bins (for the diagram:
    calibrated probabilities sit so close to 50% that equal-width bins would hold one point)."""
    order = np.argsort(probability_up, kind="stable")
    rows = []
    for part in np.array_split(order, bins):
        if len(part):
            rows.append(
                {
                    "stated": float(np.mean(probability_up[part])),
                    "observed": float(np.mean(up[part])),
                    "n": len(part),
                }
            )
    return rows


def block(
    probability_up: np.ndarray,
    up: np.ndarray,
    always_up: float | np.ndarray,
    calls_up: np.ndarray | None = None,
) -> dict[str, Any]:
    """The ``calibration`` block: hit rate with its 95% interval, Brier, ECE, always-up Brier.

    ``always_up`` is the baseline's P(up) (one value, or one per session when it was refitted
    fold by fold); ``calls_up`` overrides the direction (the coin flip calls at random)."""
    probability_up, up = np.asarray(probability_up, float), np.asarray(up, float)
    always_up = np.broadcast_to(np.asarray(always_up, float), up.shape)
    if calls_up is None:
        calls_up = probability_up >= 0.5
    confidence = np.where(calls_up, probability_up, 1.0 - probability_up)
    right = target.direction_right(calls_up, up)
    hits, n = int(right.sum()), len(right)
    interval = wilson_interval(hits, n)
    return {
        "target": target.NAME,
        "sessions": n,
        "hit_rate": hits / n if n else None,
        "hit_rate_ci95": list(interval) if interval else None,
        "mean_confidence": float(confidence.mean()) if n else None,
        "brier": brier(probability_up, up) if n else None,
        "ece": ece(confidence, right) if n else None,
        "always_up_probability": float(always_up.mean()) if n else None,
        "always_up_brier": brier(always_up, up) if n else None,
    }


def sessions(histories: dict[str, History]) -> pd.DataFrame:
    """Every session's open, close and outcome: symbol, target (date), open, close, up, move."""
    frames = [
        pd.DataFrame(
            {
                "symbol": h.symbol,
                "target": pd.to_datetime(h.dates),
                "open": h.rows[:, 0],
                "close": h.rows[:, 3],
            }
        )
        for h in histories.values()
    ]
    out = pd.concat(frames, ignore_index=True)
    out["up"] = target.moved_up(out["open"], out["close"])
    out["move"] = target.session_return(out["open"], out["close"])
    return out


def prior_up_rate(table: pd.DataFrame, before: pd.Timestamp) -> float:
    """The pooled up rate of the sessions before ``before`` (0.5 when there are none)."""
    past = table[table["target"] < before]
    return float(past["up"].mean()) if len(past) else 0.5


def tier_probability_up(frame: pd.DataFrame) -> np.ndarray:
    """P(up) a tier states: its confidence for an UP (or flat) call, one minus it for DOWN."""
    confidence = frame["confidence"].to_numpy(float)
    return np.where(
        frame["point"].to_numpy() >= frame["current"].to_numpy(), confidence, 1 - confidence
    )


def with_sessions(predictions: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Forecast rows joined with their session's open, close, outcome and move."""
    rows = predictions.assign(target=pd.to_datetime(predictions["target"]))
    return rows.merge(table, on=["symbol", "target"], how="left")


def attach_tier_calibration(
    summary: dict[str, Any], predictions: pd.DataFrame, table: pd.DataFrame
) -> None:
    """Add a ``calibration`` block to every tier of a backtest summary (in place)."""
    joined = with_sessions(predictions, table)
    always_up = prior_up_rate(table, joined["target"].min())
    for key, frame in joined.groupby("tier", sort=False):
        if key in summary["tiers"]:
            summary["tiers"][key]["calibration"] = block(
                tier_probability_up(frame), frame["up"].to_numpy(), always_up
            )


def reliability_chart(curves: dict[str, list[dict]], path) -> None:
    """The reliability diagram: observed up rate against stated P(up), one line per forecaster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0.3, 0.7], [0.3, 0.7], color="grey", linestyle="--", label="perfectly calibrated")
    for label, rows in curves.items():
        ax.plot([r["stated"] for r in rows], [r["observed"] for r in rows], marker="o", label=label)
    ax.set(
        xlim=(0.3, 0.7), ylim=(0.3, 0.7), xlabel="stated P(session up), decile bins",
        ylabel="observed share of sessions up", title="Reliability, held-out walk-forward folds",
    )  # fmt: skip
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
