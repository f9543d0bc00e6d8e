"""The walk forward: every trading day, every symbol, every tier, using only the past.

For each target day in ``[start, end]`` the forecast is made at the close of the previous
trading day (the origin) from the bars up to the origin. All (symbol, origin) windows are built
first as read-only views that end at the origin, then each tier forecasts them in chunks, so a
model runs a few large batches instead of thousands of single calls. Every tier is scored on the
same windows: an origin enters only when every tier has enough history for it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from orchestrator.backtest.data import BacktestError, History
from orchestrator.backtest.tiers import Tier, Window
from premarket.progress import progress_bar


@dataclass
class WalkForward:
    """Every forecast of the run, one row per (tier, symbol, origin), and how long each tier took."""

    predictions: pd.DataFrame
    """Columns: tier, symbol, origin, target, current, actual, point, confidence, p10, p90..."""
    seconds: dict[str, float]
    dropped: int
    """Target days in the period left out because some tier lacked history for them."""


def build_windows(
    histories: dict[str, History], start: date, end: date, min_rows: int
) -> tuple[list[Window], np.ndarray, np.ndarray, int]:
    """The windows whose next trading day falls in ``[start, end]``, their targets and actuals."""
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    windows: list[Window] = []
    targets: list[np.datetime64] = []
    actuals: list[float] = []
    dropped = 0
    for history in histories.values():
        in_period = np.flatnonzero((history.dates[1:] >= lo) & (history.dates[1:] <= hi))
        for origin in in_period:
            if origin + 1 < min_rows:
                dropped += 1
                continue
            windows.append(
                Window(
                    symbol=history.symbol,
                    dates=history.dates[: origin + 1],
                    rows=history.rows[: origin + 1],
                )
            )
            targets.append(history.dates[origin + 1])
            actuals.append(float(history.rows[origin + 1, 3]))
    return windows, np.array(targets, dtype="datetime64[D]"), np.array(actuals), dropped


def walk_forward(
    histories: dict[str, History],
    tiers: Sequence[Tier],
    start: date,
    end: date,
    *,
    progress: bool = True,
) -> WalkForward:
    """Forecast every target day in ``[start, end]`` with every tier."""
    if start > end:
        raise BacktestError(f"--start {start} is after --end {end}")
    need = max(t.min_rows for t in tiers)
    windows, targets, actuals, dropped = build_windows(histories, start, end, need)
    if not windows:
        raise BacktestError(
            f"no trading day between {start} and {end} has {need} earlier bars "
            "(the most any tier needs) in the prices given"
        )
    base = pd.DataFrame(
        {
            "symbol": [w.symbol for w in windows],
            "origin": [w.dates[-1] for w in windows],
            "target": targets,
            "current": [float(w.closes[-1]) for w in windows],
            "actual": actuals,
        }
    )
    frames: list[pd.DataFrame] = []
    seconds: dict[str, float] = {}
    with progress_bar(enabled=progress, label_width=24) as bar:
        for tier in tiers:
            task = bar.add_task(tier.label, total=len(windows))
            began = time.perf_counter()
            outputs = []
            for first in range(0, len(windows), tier.batch_size):
                chunk = windows[first : first + tier.batch_size]
                out = tier.forecast(chunk)
                if len(out.point) != len(chunk):
                    raise RuntimeError(f"{tier.key} answered {len(out.point)} of {len(chunk)}")
                outputs.append(out)
                bar.advance(task, len(chunk))
            seconds[tier.key] = time.perf_counter() - began
            frame = base.copy()
            frame.insert(0, "tier", tier.key)
            frame["point"] = np.concatenate([o.point for o in outputs])
            frame["confidence"] = np.concatenate([o.confidence for o in outputs])
            for key in sorted(set.intersection(*(set(o.quantiles) for o in outputs))):
                frame[key] = np.concatenate([o.quantiles[key] for o in outputs])
            frames.append(frame)
    return WalkForward(
        predictions=pd.concat(frames, ignore_index=True), seconds=seconds, dropped=dropped
    )
