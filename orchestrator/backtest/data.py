"""Price histories for the backtest, read from any daily OHLCV CSV.

The CSV needs ``symbol,date,open,high,low,close,volume`` (``adj_close`` and other columns are
ignored: the models see raw, split-adjusted closes, as callers send them). It is read by the
project's one parser (:mod:`premarket.prices`); every problem is a ``BacktestError`` naming the
column, symbol and line, so the CLI can print one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from premarket.prices import PriceFileError, read_prices


class BacktestError(ValueError):
    """A backtest that cannot run as asked (bad CSV, unknown symbol, empty period...)."""


@dataclass(frozen=True)
class History:
    """One symbol's daily bars, oldest first; arrays are read-only so no tier can edit them."""

    symbol: str
    dates: np.ndarray
    """``datetime64[D]``, strictly increasing."""
    rows: np.ndarray
    """``float64 [days, 5]``: open, high, low, close, volume."""

    @property
    def closes(self) -> np.ndarray:
        return self.rows[:, 3]


def load_prices(path: Path, symbols: Sequence[str] | None = None) -> dict[str, History]:
    """Read ``path`` into one ``History`` per symbol (all symbols when ``symbols`` is empty),
    strictly: any bad row of a symbol asked for refuses the run, naming its line."""
    try:
        frames = read_prices(path).require(symbols or None)
    except PriceFileError as exc:
        unknown = [p.symbol for p in exc.problems if p.line is None and p.symbol]
        if unknown and len(unknown) == len(exc.problems):
            raise BacktestError(f"--symbols: {', '.join(unknown)} not in {path}") from None
        raise BacktestError(f"--prices: {exc}") from None
    histories: dict[str, History] = {}
    for symbol, frame in frames.items():
        dates = frame["date"].to_numpy(dtype="datetime64[D]")
        rows = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
        dates.setflags(write=False)
        rows.setflags(write=False)
        histories[symbol] = History(symbol=symbol, dates=dates, rows=rows)
    return histories
