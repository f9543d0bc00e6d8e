"""The one parser of daily price CSVs (``symbol,date,open,high,low,close,volume``).

Analyze, the backtest and the training commands all read prices through here, so a file means
the same thing everywhere. The policy is strict by default: a bad row is refused with the file's
line number, because a silently dropped row shifts every return after it. Callers that prefer
to go on (``on_bad_row="drop"``) get the dropped rows back as :class:`PriceProblem` s to report.

Problems are kept per symbol: one symbol's bad row refuses that symbol only, so a morning run
can fail one symbol and forecast the others (:meth:`PriceTable.frame`), while the backtest and
training ask for all their symbols at once (:meth:`PriceTable.require`, :func:`load_prices`).

Also: a UTF-8 byte-order mark is accepted; a row repeated identically is collapsed with a
note; two rows for the same symbol and date with different values are refused under either
policy (which one is right cannot be told); extra columns (``adj_close``...) are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from premarket.plausible import MAX_PRICE, MAX_VOLUME, MIN_PRICE

REQUIRED_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
OnBadRow = Literal["refuse", "drop"]


@dataclass(frozen=True, slots=True)
class PriceProblem:
    """One refused, dropped or collapsed row; ``line`` is the file's line (header = 1)."""

    line: int | None
    symbol: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.symbol + ': ' if self.symbol else ''}{self.message}"


class PriceFileError(ValueError):
    """A price file, or some of its symbols, that cannot be used; ``problems`` lists them all
    and the message shows the first, so a CLI can print one line."""

    def __init__(self, path: Path, problems: Iterable[PriceProblem]) -> None:
        self.path = Path(path)
        self.problems = tuple(problems)
        more = len(self.problems) - 1
        super().__init__(
            f"{self.path}: {self.problems[0]}" + (f" (and {more} more)" if more > 0 else "")
        )

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols refused (empty for a problem with the file itself)."""
        return tuple(sorted({p.symbol for p in self.problems if p.symbol}))


@dataclass(frozen=True)
class PriceTable:
    """A parsed price file: one frame per usable symbol (columns ``date`` as datetime64,
    then open, high, low, close, volume as float64; sorted by date, dates unique) and the
    problems of the refused symbols."""

    path: Path
    frames: dict[str, pd.DataFrame]
    problems: dict[str, tuple[PriceProblem, ...]]
    """Refused symbols -> why (bad rows under ``refuse``, conflicting duplicates)."""
    dropped: tuple[PriceProblem, ...] = ()
    """Rows left out under ``on_bad_row="drop"``."""
    notes: tuple[PriceProblem, ...] = ()
    """Identical duplicate rows that were collapsed into one."""

    @property
    def symbols(self) -> list[str]:
        """Every symbol in the file, usable or refused, sorted."""
        return sorted({*self.frames, *self.problems})

    def frame(self, symbol: str) -> pd.DataFrame:
        """One symbol's bars, or a :class:`PriceFileError` about that symbol alone."""
        return self.require([symbol])[symbol.strip().upper()]

    def require(self, symbols: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
        """Frames for ``symbols`` (every symbol when None), in the order given; raises one
        :class:`PriceFileError` listing every problem of the symbols asked for."""
        wanted = self.symbols if symbols is None else [s.strip().upper() for s in symbols]
        problems = [p for s in wanted for p in self.problems.get(s, ())]
        problems += [
            PriceProblem(None, s, f"not in {self.path.name}")
            for s in wanted
            if s not in self.frames and s not in self.problems
        ]
        if problems:
            raise PriceFileError(self.path, problems)
        return {s: self.frames[s] for s in wanted}

    def long_frame(self, symbols: Iterable[str] | None = None) -> pd.DataFrame:
        """The required symbols in one frame with a ``symbol`` column, sorted by symbol, date."""
        frames = self.require(symbols)
        parts = [f.assign(symbol=s) for s, f in sorted(frames.items())]
        columns = ["symbol", "date", *VALUE_COLUMNS]
        if not parts:
            return pd.DataFrame(columns=columns)
        return pd.concat(parts, ignore_index=True)[columns]


def load_prices(
    path: Path | str, symbols: Iterable[str] | None = None, *, on_bad_row: OnBadRow = "refuse"
) -> dict[str, pd.DataFrame]:
    """Strict shorthand: every frame of ``symbols`` (all when None) or a PriceFileError."""
    return read_prices(path, on_bad_row=on_bad_row).require(symbols)


def read_prices(path: Path | str, *, on_bad_row: OnBadRow = "refuse") -> PriceTable:
    """Parse ``path``. Raises :class:`PriceFileError` only for the file as a whole (missing,
    unreadable, lacking a column, a row without a symbol); symbol problems go into the table."""
    if on_bad_row not in ("refuse", "drop"):
        raise ValueError(f"on_bad_row: {on_bad_row!r} is not 'refuse' or 'drop'")
    path = Path(path)
    raw = _read_raw(path)
    raw = raw[(raw != "").any(axis=1).to_numpy()]
    lines = raw.index.to_numpy() + 2  # the header is line 1; blank lines were kept as rows
    symbols = raw["symbol"].str.strip().str.upper().to_numpy()
    parsed, reasons = _parse_values(raw)

    bad = pd.notna(reasons)
    problems: dict[str, list[PriceProblem]] = {}
    dropped: list[PriceProblem] = []
    for line, symbol, reason in zip(lines[bad], symbols[bad], reasons[bad], strict=True):
        problem = PriceProblem(int(line), symbol, reason)
        if on_bad_row == "drop":
            dropped.append(problem)
        elif not symbol:
            raise PriceFileError(path, [problem])
        else:
            problems.setdefault(symbol, []).append(problem)

    good = parsed[~bad].assign(symbol=symbols[~bad], line=lines[~bad])
    good = good[good["symbol"] != ""]  # only reachable under "drop", where it was reported
    good, notes = _collapse_duplicates(good, problems)
    frames = {
        str(symbol): part.sort_values("date")[["date", *VALUE_COLUMNS]].reset_index(drop=True)
        for symbol, part in good.groupby("symbol", sort=True)
        if symbol not in problems
    }
    return PriceTable(
        path=path,
        frames=frames,
        problems={s: tuple(p) for s, p in sorted(problems.items())},
        dropped=tuple(dropped),
        notes=tuple(notes),
    )


def _read_raw(path: Path) -> pd.DataFrame:
    """Every cell as stripped text (the BOM removed), blank lines kept so the index is the
    line number minus 2; file-level problems become a PriceFileError."""

    def fail(message: str) -> PriceFileError:
        return PriceFileError(path, [PriceProblem(None, "", message)])

    try:
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skip_blank_lines=False,
        )
    except FileNotFoundError:
        raise fail("does not exist") from None
    except UnicodeDecodeError:
        raise fail("is not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise fail("is empty (no header)") from None
    except (OSError, pd.errors.ParserError) as exc:
        raise fail(f"cannot be read as CSV ({str(exc).strip()})") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise fail(f"lacks the column(s) {', '.join(missing)}")
    raw = raw.loc[:, ~raw.columns.duplicated()][list(REQUIRED_COLUMNS)]
    return raw.fillna("").apply(lambda column: column.str.strip())


def _number(text: str) -> float:
    """A cell as Python parses it (correctly rounded; pandas' fast parser can be 1 ulp off)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _parse_values(raw: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Typed columns and, per row, the first reason it is bad (None when it is fine)."""
    reasons = np.full(len(raw), None, dtype=object)

    def flag(mask: np.ndarray, message) -> None:
        for i in np.flatnonzero(mask & pd.isna(reasons)):
            reasons[i] = message(i)

    flag((raw["symbol"] == "").to_numpy(), lambda i: "column symbol is empty")
    dates = pd.to_datetime(raw["date"].str[:10], format="%Y-%m-%d", errors="coerce")
    flag(
        dates.isna().to_numpy(),
        lambda i: f"column date is not a date YYYY-MM-DD ({raw['date'].iat[i]!r})",
    )
    parsed = pd.DataFrame({"date": dates.to_numpy()})
    for column in VALUE_COLUMNS:
        values = np.fromiter(map(_number, raw[column]), dtype=np.float64, count=len(raw))
        finite = np.isfinite(values)
        if column == "volume":
            ok, kind = finite & (values >= 0) & (values <= MAX_VOLUME), f"0 to {MAX_VOLUME:g}"
        else:  # 1e305 or 1e-300 parse as numbers, but no price is that (issue 33 L7)
            ok = finite & (values >= MIN_PRICE) & (values <= MAX_PRICE)
            kind = f"a price from {MIN_PRICE:g} to {MAX_PRICE:g}"
        flag(~ok, lambda i, c=column, k=kind: f"column {c} is not {k} ({raw[c].iat[i]!r})")
        parsed[column] = values
    flag(
        (parsed["high"] < parsed["low"]).to_numpy(),
        lambda i: f"column high is below column low ({raw['high'].iat[i]} < {raw['low'].iat[i]})",
    )
    return parsed, reasons


def _collapse_duplicates(
    good: pd.DataFrame, problems: dict[str, list[PriceProblem]]
) -> tuple[pd.DataFrame, list[PriceProblem]]:
    """Keep the first of identical (symbol, date) rows with a note; a conflicting repeat adds a
    problem to its symbol, which refuses it."""
    repeated = good.duplicated(["symbol", "date"], keep="first").to_numpy()
    if not repeated.any():
        return good, []
    first = good.drop_duplicates(["symbol", "date"], keep="first").set_index(["symbol", "date"])
    notes: list[PriceProblem] = []
    for row in good[repeated].itertuples(index=False):
        kept = first.loc[(row.symbol, row.date)]
        kept_line = int(kept["line"])
        day = row.date.date().isoformat()
        if all(getattr(row, c) == kept[c] for c in VALUE_COLUMNS):
            notes.append(
                PriceProblem(
                    int(row.line), row.symbol, f"{day} repeats line {kept_line}; collapsed"
                )
            )
        else:
            problems.setdefault(row.symbol, []).append(
                PriceProblem(
                    int(row.line),
                    row.symbol,
                    f"has more than one row for {day} with different values "
                    f"(first at line {kept_line})",
                )
            )
    for symbol in problems:
        problems[symbol].sort(key=lambda p: p.line or 0)
    return good[~repeated], notes
