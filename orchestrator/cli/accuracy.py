"""``premarket accuracy``: score the forecasts whose closes are known, print and chart them."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from rich.table import Table

from orchestrator.cli.args import add_price_source, iso_date, settings_for, table_console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_price_source(parser, "Realized closes from the offline CSV.")
    parser.add_argument(
        "--as-of", type=iso_date, metavar="DATE", help="Window end (default: latest scored)."
    )
    parser.add_argument(
        "--chart", type=Path, metavar="PNG", help="Chart path (default: STATE_DIR/accuracy.png)."
    )
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument(
        "--replays",
        action="store_true",
        help="Score and show replayed mornings (--as-of, --offline runs) instead of live ones.",
    )


def run(args: argparse.Namespace) -> int:
    from orchestrator.data.calendar import calendar_of
    from orchestrator.jobs.upkeep import score_accuracy
    from orchestrator.storage.store import Store
    from orchestrator.tracking.accuracy import AccuracyLedger
    from orchestrator.tracking.accuracy_report import accuracy_document, plot

    settings = settings_for(args)
    calendar = calendar_of(settings)
    store = Store(settings.database_url)
    try:
        modes = ("replay",) if args.replays else ("live",)
        new = asyncio.run(score_accuracy(settings, store, offline=args.offline, modes=modes))
        scores = AccuracyLedger(store.engine).scores(modes=modes)
    finally:
        store.close()
    doc = accuracy_document(scores, calendar, args.as_of)
    chart = plot(scores, calendar, args.chart or Path(settings.state_dir) / "accuracy.png")
    if args.json:
        print(json.dumps({**doc, "newly_scored": len(new), "chart": str(chart)}, indent=2))
        return 0
    console = table_console()
    console.print(render(doc, len(new)))
    console.print(f"Chart written to {chart}")
    return 0


def _pct(value: float | None, scale: float = 100.0) -> str:
    return "-" if value is None else f"{scale * value:.1f}%"


def render(doc: dict, newly_scored: int) -> Table:
    table = Table(
        title=f"Forecast accuracy (sessions up to {doc['as_of'] or '-'})",
        caption=f"{doc['forecasts']} forecasts ({', '.join(doc['modes']) or 'live'} runs, one per "
        f"symbol, day and tier; the session signal one per symbol and day), {doc['scored']} "
        f"scores, {newly_scored} new; hit = direction right (95% interval); error = mean "
        "|predicted - realized| / realized, or for session rows the probability error "
        "|P(up) - outcome| in points; Brier = mean (P(up) - outcome)^2 of session rows; "
        "band = realized inside p10-p90",
    )
    for name in ("By", "Group", "Kind", "Window", "N", "Hit", "Error", "Brier", "Band"):
        table.add_column(name, justify="left" if name in ("By", "Group", "Kind") else "right")
    for row in doc["rows"]:
        table.add_row(
            row["group_by"],
            row["group"],
            row["kind"],
            str(row["window"]),
            str(row["count"]),
            _hit(row),
            _error(row),
            "-" if row.get("brier") is None else f"{row['brier']:.4f}",
            _pct(row["band_coverage"]),
        )
    return table


def _error(row: dict) -> str:
    """A price error in %, or a probability error in points (the ``session`` kind)."""
    value = row["mean_abs_pct_error"]
    if row["kind"] == "session" and value is not None:
        return f"{value:.1f} pts"
    return _pct(value, 1.0)


def _hit(row: dict) -> str:
    if row["direction_hit_rate"] is None:
        return "-"
    low, high = row.get("hit_rate_low"), row.get("hit_rate_high")
    band = f" ({100 * low:.0f}-{100 * high:.0f})" if low is not None and high is not None else ""
    return f"{_pct(row['direction_hit_rate'])}{band}"
