"""``premarket replay``: replay past mornings offline, then score them and trade them on paper.

``premarket analyze --offline --as-of DATE`` replays one morning; this replays the ``--mornings``
sessions up to ``--until`` (each with only the data of its previous close visible, as a live run
would have had; a morning already stored is not replayed again), against the configured services, and then brings the replays' accuracy and
paper book up to date (``accuracy --replays``, ``paper --replays``, offline). The runs are
stored as replays, so live figures never include them; keep them in a database of their own
(``PREMARKET_DATABASE_URL``) when the store also holds live runs. ``make demo`` uses it to fill
its dashboard.
"""

from __future__ import annotations

import argparse
import asyncio

from orchestrator.cli import exits
from orchestrator.cli.analyze import _check_within_file, _file_symbols, _symbols, check_as_of
from orchestrator.cli.args import add_price_source, iso_date, settings_for, table_console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until",
        type=iso_date,
        metavar="DATE",
        required=True,
        help="The last morning's data date.",
    )
    parser.add_argument(
        "--mornings", type=int, default=20, metavar="N", help="Mornings to replay (default 20)."
    )
    parser.add_argument("--symbols", nargs="+", type=_symbols, metavar="SYM", help="As analyze.")
    add_price_source(parser, "Always on: replays read the bundled (or --prices) data.")


def run(args: argparse.Namespace) -> int:
    from orchestrator.data.calendar import calendar_of
    from orchestrator.jobs.analysis import run_analysis
    from orchestrator.jobs.upkeep import score_accuracy, update_paper
    from orchestrator.storage.store import Store
    from orchestrator.tracking.paper_account import PaperAccount

    if not 1 <= args.mornings <= 250:
        raise exits.UsageError(f"--mornings: {args.mornings} is not between 1 and 250")
    args.offline = True
    settings = settings_for(args)
    check_as_of(args.until)
    _check_within_file(settings.prices_csv, args.until)
    symbols = [s for group in args.symbols for s in group] if args.symbols else None
    if symbols is None and args.prices:
        symbols = _file_symbols(args.prices)
    calendar = calendar_of(settings)
    days = calendar.sessions_back(args.until, args.mornings)
    console = table_console()
    worst = exits.OK
    store = Store(settings.database_url)
    try:
        for i, day in enumerate(days, start=1):
            business = calendar.next_session(day)
            stored = store.run_for_date(business, replays=True)
            if stored is not None and stored.status != "failed":  # replaying again adds nothing
                console.print(f"[{i}/{len(days)}] {business}: stored already ({stored.run_id})")
                continue
            result = asyncio.run(
                run_analysis(settings, symbols=symbols, as_of=day, offline=True, store=store)
            )
            counts = result.performance_metrics.signal_distribution
            tiers = ", ".join(
                f"{k} {v}" for k, v in result.performance_metrics.tier_counts.items() if v
            )
            console.print(
                f"[{i}/{len(days)}] {result.business_date}: {result.status}, "
                f"{len(result.signals)}/{len(result.symbols_analyzed)} analysed "
                f"({', '.join(f'{counts.get(k, 0)} {k}' for k in ('BUY', 'SELL', 'HOLD'))}; "
                f"{tiers or 'no tier'})"
            )
            status = exits.of_status(result.status, bool(result.degraded))
            worst = max(worst, status, key=_severity)
        modes = ("replay",)
        scores = asyncio.run(score_accuracy(settings, store, offline=True, modes=modes))
        until = calendar.next_session(args.until)  # the last replayed morning's session
        asyncio.run(update_paper(settings, store, offline=True, until=until, modes=modes))
        book = PaperAccount(store.engine, settings.paper).report()
    finally:
        store.close()
    console.print(
        f"accuracy: {len(scores)} new scores; paper book: equity ${book.equity:,.2f} "
        f"({book.total_return_pct:+.2f}%), {book.closed_trades} closed trades "
        f"(premarket accuracy --replays, premarket paper --replays --offline for the figures)"
    )
    return worst


def _severity(status: int) -> int:
    """Failed beats degraded beats partial beats ok (the statuses' numbers are not ordered)."""
    return {exits.OK: 0, exits.PARTIAL: 1, exits.DEGRADED: 2, exits.FAILED: 3}[status]
