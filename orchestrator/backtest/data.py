"""Price histories for the backtest, read from any daily OHLCV CSV.

The CSV needs ``symbol,date,open,high,low,close,volume`` (``adj_close`` and other columns are
ignored: the models see raw, split-adjusted closes, as callers send them). Every problem is a
``BacktestError`` naming the column, symbol or row, so the CLI can print one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REQUIRED_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")


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
    """Read ``path`` into one ``History`` per symbol (all symbols when ``symbols`` is empty)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise BacktestError(f"--prices: {path} does not exist") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise BacktestError(f"--prices: {path} cannot be read as CSV ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BacktestError(f"--prices: {path} lacks the column(s) {', '.join(missing)}")
    frame = frame[list(REQUIRED_COLUMNS)].copy()
    frame["symbol"] = frame["symbol"].astype(str).str.strip().str.upper()
    try:
        frame["date"] = pd.to_datetime(frame["date"], format="ISO8601").dt.normalize()
    except (ValueError, TypeError) as exc:
        raise BacktestError(f"--prices: column date is not a date in every row ({exc})") from None
    for column in (*PRICE_COLUMNS, "volume"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values)
        if column in PRICE_COLUMNS:
            bad |= values <= 0
        else:
            bad |= values < 0
        if bad.any():
            row = frame.loc[bad].iloc[0]
            raise BacktestError(
                f"--prices: column {column} is not a valid "
                f"{'price' if column != 'volume' else 'volume'} for {row['symbol']} on "
                f"{row['date'].date()} ({frame.loc[bad, column].iloc[0]!r})"
            )
        frame[column] = values.astype("float64")
    duplicated = frame.duplicated(["symbol", "date"])
    if duplicated.any():
        row = frame.loc[duplicated].iloc[0]
        raise BacktestError(
            f"--prices: {row['symbol']} has more than one row for {row['date'].date()}"
        )

    wanted = [s.upper() for s in symbols] if symbols else sorted(frame["symbol"].unique())
    available = set(frame["symbol"].unique())
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise BacktestError(f"--symbols: {', '.join(unknown)} not in {path}")
    histories: dict[str, History] = {}
    for symbol in wanted:
        part = frame[frame["symbol"] == symbol].sort_values("date")
        dates = part["date"].to_numpy(dtype="datetime64[D]")
        rows = part[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
        dates.setflags(write=False)
        rows.setflags(write=False)
        histories[symbol] = History(symbol=symbol, dates=dates, rows=rows)
    return histories
