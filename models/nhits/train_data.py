"""The bundled daily closes, shaped for neuralforecast and for window-by-window evaluation.

Training, the tests and the benchmark all read the same closes through this module so that the
windows they compare are the same real windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from premarket.data import PRICES_CSV, SYMBOLS
from premarket.prices import read_prices


@dataclass(frozen=True)
class Series:
    """One symbol's split-adjusted daily closes, oldest first, with their trading dates."""

    symbol: str
    dates: np.ndarray
    closes: np.ndarray


def load_series(symbols: tuple[str, ...] | None = SYMBOLS, path: Path = PRICES_CSV) -> list[Series]:
    """The closes of ``symbols`` (every symbol when None) from a price CSV, in the order given,
    read by the project's strict parser (a bad row is a ``PriceFileError`` naming its line)."""
    frames = read_prices(path).require(symbols)
    return [
        Series(
            symbol,
            frame["date"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
            frame["close"].to_numpy(float),
        )
        for symbol, frame in frames.items()
    ]


def to_long_frame(series: list[Series]) -> pd.DataFrame:
    """neuralforecast's long format. ``ds`` counts trading days (freq 1): calendar gaps from
    weekends and holidays are not missing data, so a business-day frequency would be wrong."""
    return pd.concat(
        [
            pd.DataFrame({"unique_id": s.symbol, "ds": np.arange(len(s.closes)), "y": s.closes})
            for s in series
        ],
        ignore_index=True,
    )


def sliding_windows(
    closes: np.ndarray,
    input_size: int,
    horizon: int,
    first_target: int,
    stop: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (input, target) pair whose target starts at index ``first_target`` or later and
    ends before index ``stop`` (the end of the series when None).

    Returns ``inputs`` [n, input_size] and ``targets`` [n, horizon]; the target of a window is
    the ``horizon`` closes right after its input.
    """
    stop = len(closes) if stop is None else stop
    starts = np.arange(max(first_target, input_size), stop - horizon + 1)
    inputs = np.stack([closes[s - input_size : s] for s in starts])
    targets = np.stack([closes[s : s + horizon] for s in starts])
    return inputs, targets


def sessions_until(dates: np.ndarray, day: str) -> int:
    """How many of the trading ``dates`` (ISO strings, oldest first) fall on or before ``day``."""
    return int(np.searchsorted(dates, day, side="right"))
