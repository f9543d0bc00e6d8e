"""Command-line arguments both price models' train commands share: which prices, which symbols,
and the time split. One definition, so ``python -m models.tft.train`` and
``python -m models.nhits.train`` read a universe the same way.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from premarket.data import DEMO_AS_OF, PRICES_CSV

TRAIN_END = dt.date(2021, 12, 31)
"""Default last day fitted on (the bundled data's split)."""
VALID_END = dt.date.fromisoformat(DEMO_AS_OF)
"""Default last validation day; later sessions are the held-out test period."""


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, got {text!r}") from None


def symbols_of(values: list[str] | None) -> tuple[str, ...] | None:
    """``["AAPL,MSFT", "XOM"]`` -> ``("AAPL", "MSFT", "XOM")``; None or empty: every symbol."""
    symbols = tuple(s.upper() for v in values or () for s in v.replace(",", " ").split())
    return symbols or None


def add_universe_arguments(parser: argparse.ArgumentParser) -> None:
    """``--prices``, ``--symbols``, ``--train-end``, ``--valid-end``."""
    parser.add_argument(
        "--prices",
        type=Path,
        default=PRICES_CSV,
        help="CSV with symbol,date,open,high,low,close,volume (default: the bundled prices)",
    )
    parser.add_argument(
        "--symbols",
        nargs="+",
        help="symbols to train on, space or comma separated (default: every one in the CSV)",
    )
    parser.add_argument("--train-end", type=iso_date, default=TRAIN_END, help="last day fitted on")
    parser.add_argument(
        "--valid-end",
        type=iso_date,
        default=VALID_END,
        help="last day of early stopping and calibration; later days are the reported test",
    )
