"""Arguments and set-up shared by the ``premarket`` subcommands, written once.

``analyze``, ``paper`` and ``accuracy`` all read prices offline (the bundled or ``--prices``
CSV) or live, take dates on the command line and print rich tables; ``backtest`` takes dates.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from rich.console import Console

from premarket.settings import Settings, load_settings


def iso_date(text: str) -> date:
    """An argparse ``type``: a YYYY-MM-DD date, or a one-line usage error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_price_source(parser: argparse.ArgumentParser, offline_help: str) -> None:
    """``--offline`` (what it means differs per command) and ``--prices CSV``."""
    parser.add_argument("--offline", action="store_true", help=offline_help)
    parser.add_argument("--prices", type=Path, metavar="CSV", help="Offline price CSV.")


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings, with ``--prices`` (which must exist) in place of the bundled CSV.

    A price file is an offline source: ``--prices`` implies ``--offline``, so a file named on
    the command line is never silently ignored for live bars (and one book never mixes both).
    """
    from orchestrator.cli.exits import UsageError

    if args.prices:
        if not args.prices.is_file():
            raise UsageError(f"--prices: {args.prices} does not exist")
        args.offline = True
    return load_settings(**({"prices_csv": args.prices} if args.prices else {}))


def table_console() -> Console:
    """A console for tables: the terminal's width, or 120 columns when piped (logs, cron)."""
    return Console(width=None if sys.stdout.isatty() else 120)
