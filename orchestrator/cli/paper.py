"""``premarket paper``: bring the paper book up to date and report it.

Applies the stored runs not yet applied, marks open positions with the closes since (offline:
the bundled or ``--prices`` CSV; live: Yahoo), then prints equity, open positions, win rate,
max drawdown and the Sharpe ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict

from rich.table import Table

from orchestrator.cli.args import add_price_source, iso_date, settings_for, table_console
from orchestrator.tracking.paper_account import Report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_price_source(parser, "Mark with the offline CSV, not Yahoo.")
    parser.add_argument(
        "--until",
        type=iso_date,
        metavar="DATE",
        help="Mark with closes up to DATE (default today).",
    )
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    parser.add_argument(
        "--replays",
        action="store_true",
        help="Trade replayed mornings (--as-of, --offline runs) instead of live runs.",
    )


def run(args: argparse.Namespace) -> int:
    from orchestrator.jobs.upkeep import update_paper
    from orchestrator.storage.store import Store
    from orchestrator.tracking.paper_account import PaperAccount

    settings = settings_for(args)
    store = Store(settings.database_url)
    try:
        modes = ("replay",) if args.replays else ("live",)
        events = asyncio.run(
            update_paper(settings, store, offline=args.offline, until=args.until, modes=modes)
        )
        summary = PaperAccount(store.engine, settings.paper).report()
    finally:
        store.close()
    if args.json:
        print(json.dumps({"events": events, **asdict(summary)}, indent=2, default=str))
        return 0
    console = table_console()
    for line in events:
        console.print(line)
    if summary.open_positions:
        console.print(render(summary))
    else:
        console.print("Paper trading: no open positions")
        console.print(_caption(summary))
    for order in summary.pending_orders:
        console.print(
            f"queued: {order.action} {order.symbol}, fills at the first open on or after "
            f"{order.business_date}"
        )
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def render(summary: Report) -> Table:
    """Open positions as rows; the account's figures in the caption."""
    table = Table(title="Paper trading", caption=_caption(summary))
    for name in ("Symbol", "Side", "Qty", "Entry", "Since", "Last", "P&L", "P&L %"):
        table.add_column(name, justify="left" if name in ("Symbol", "Side", "Since") else "right")
    for p in summary.open_positions:
        pnl = p.pnl_at(p.last_price)
        style = "green" if pnl >= 0 else "red"
        table.add_row(
            p.symbol,
            p.side,
            str(p.quantity),
            f"{p.entry_price:.2f}",
            p.entry_date.isoformat(),
            f"{p.last_price:.2f}",
            f"[{style}]{pnl:+,.2f}[/]",
            f"[{style}]{100 * p.return_at(p.last_price):+.2f}%[/]",
        )
    return table


def _caption(summary: Report) -> str:
    """The account's figures."""
    return (
        f"equity ${summary.equity:,.2f} ({summary.total_return_pct:+.2f}% on "
        f"${summary.starting_cash:,.0f}); cash ${summary.cash:,.2f}\n"
        f"closed trades {summary.closed_trades}; win rate "
        f"{_pct(None if summary.win_rate is None else 100 * summary.win_rate)}; "
        f"max drawdown {_pct(summary.max_drawdown_pct)}; Sharpe "
        f"{'-' if summary.sharpe is None else f'{summary.sharpe:.2f}'}\n"
        f"costs ${summary.costs:,.2f} (in the equity); trades held "
        f"{'open to close' if summary.holding == 'session' else 'to stop, target or signal'}"
    )
