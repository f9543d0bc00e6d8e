"""Diebold-Mariano tests: is a tier's forecast loss really different from a benchmark's?

Each tier is tested against the random walk on the absolute error of its point forecast and,
when it gives a band, against GARCH(1,1)-t on the pinball loss of the quantiles both give.
Losses are divided by the origin close, so a $500 stock weighs as much as a $50 one, and
averaged over the symbols of each target day: the test runs on one loss difference per day,
which keeps the days' cross-sectional correlation out of the variance. The variance is
heteroskedasticity- and autocorrelation-consistent (Newey-West, Bartlett weights). The
p-value is two-sided against the standard normal (written out, so no scipy is needed here).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest.metrics import level_of, pinball, quantile_columns

BENCHMARKS = {"random_walk": "absolute_error", "garch": "pinball"}
"""Benchmark tier -> the loss it is compared on."""


def newey_west_lags(days: int) -> int:
    """The usual automatic lag count, ``floor(4 (T / 100) ^ (2/9))``."""
    return int(math.floor(4.0 * (days / 100.0) ** (2.0 / 9.0)))


def diebold_mariano(differences: np.ndarray, lags: int | None = None) -> dict[str, Any]:
    """The DM statistic of a series of loss differences (tier minus benchmark: negative means
    the tier's loss is lower) with a Newey-West variance of ``lags`` lags."""
    d = np.asarray(differences, dtype=float)
    days = len(d)
    lags = newey_west_lags(days) if lags is None else lags
    mean = float(d.mean()) if days else math.nan
    centred = d - mean
    variance = float(centred @ centred) / days if days else math.nan
    for k in range(1, min(lags, days - 1) + 1):
        variance += 2.0 * (1.0 - k / (lags + 1.0)) * float(centred[k:] @ centred[:-k]) / days
    if days < 2 or not variance > 0:
        statistic = p_value = None
    else:
        statistic = mean / math.sqrt(variance / days)
        p_value = math.erfc(abs(statistic) / math.sqrt(2.0))
    return {
        "mean_loss_difference": mean,
        "statistic": statistic,
        "p_value": p_value,
        "days": days,
        "lags": lags,
    }


def _losses(frame: pd.DataFrame, loss: str, keys: list[str]) -> pd.Series:
    """One relative loss per (symbol, target)."""
    actual, current = frame["actual"].to_numpy(), frame["current"].to_numpy()
    if loss == "absolute_error":
        values = np.abs(frame["point"].to_numpy() - actual)
    else:
        values = np.mean([pinball(actual, frame[k].to_numpy(), level_of(k)) for k in keys], axis=0)
    index = pd.MultiIndex.from_arrays([frame["symbol"], frame["target"]])
    return pd.Series(values / current, index=index)


def versus_benchmarks(predictions: pd.DataFrame, tier: str) -> dict[str, Any]:
    """``{"vs_random_walk": {...}, "vs_garch": {...}}`` for ``tier`` (a benchmark that did not
    run, the tier itself, or a band comparison without common quantiles is left out)."""
    frames = {k: f.dropna(axis=1, how="all") for k, f in predictions.groupby("tier", sort=False)}
    own = frames[tier]
    results: dict[str, Any] = {}
    for benchmark, loss in BENCHMARKS.items():
        if benchmark == tier or benchmark not in frames:
            continue
        keys = sorted(
            set(quantile_columns(own)) & set(quantile_columns(frames[benchmark])), key=level_of
        )
        if loss == "pinball" and not keys:
            continue
        difference = _losses(own, loss, keys) - _losses(frames[benchmark], loss, keys)
        daily = difference.dropna().groupby(level=1).mean().sort_index()
        results[f"vs_{benchmark}"] = {
            "loss": loss if loss != "pinball" else f"pinball over {', '.join(keys)}",
            **diebold_mariano(daily.to_numpy()),
        }
    return results


def dm_table(summary: dict[str, Any]):
    """One row per tier: mean relative loss difference and p-value against each benchmark."""
    from rich.table import Table

    table = Table(
        title="Diebold-Mariano (negative difference: the tier's loss is lower; HAC variance)",
        title_justify="left",
    )
    table.add_column("tier", no_wrap=True)
    for benchmark, loss in BENCHMARKS.items():
        table.add_column(f"vs {benchmark} ({loss}) diff bp", justify="right")
        table.add_column("p", justify="right")
    for tier in summary["tiers"].values():
        cells = []
        for benchmark in BENCHMARKS:
            result = tier.get("diebold_mariano", {}).get(f"vs_{benchmark}")
            if result is None or result["mean_loss_difference"] is None:
                cells += ["-", "-"]
                continue
            p = result["p_value"]
            cells += [
                f"{1e4 * result['mean_loss_difference']:+.2f}",
                "-" if p is None else f"{p:.3g}",
            ]
        table.add_row(tier["label"], *cells)
    return table
