"""``premarket analyze``: one run, a table of the signals, optionally the JSON document.

Exits 1 when the run failed (no symbol analysed, or the run could not be stored), so a cron job
or ``make demo`` notices; a run with some failed symbols exits 0 and lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from rich.table import Table

from orchestrator.cli_args import add_price_source, iso_date, settings_for, table_console

ACTION_STYLES = {"BUY": "green", "SELL": "red", "HOLD": "yellow"}
TIER_NAMES = {"tft": "TFT", "nhits": "N-HITS", "ensemble": "Ensemble", "statistical": "Statistical"}


def _symbols(text: str) -> list[str]:
    return [s.upper() for s in text.replace(",", " ").split() if s]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--symbols", nargs="+", type=_symbols, metavar="SYM", help="Symbols (default: settings)."
    )
    parser.add_argument(
        "--as-of", type=iso_date, metavar="DATE", help="Only data up to this date is visible."
    )
    add_price_source(parser, "Bundled (or --prices) data and bundled news.")
    parser.add_argument("--json", type=Path, metavar="FILE", help="Write the result document.")


def run(args: argparse.Namespace) -> int:
    from orchestrator.job import run_analysis

    settings = settings_for(args)
    symbols = [s for group in args.symbols for s in group] if args.symbols else None
    doc = asyncio.run(
        run_analysis(settings, symbols=symbols, as_of=args.as_of, offline=args.offline)
    )
    console = table_console()
    console.print(render(doc))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
        console.print(f"Result written to {args.json}")
    return 1 if doc["status"] == "failed" else 0


def render(doc: dict) -> Table:
    """The run as a rich table: one row per symbol, a caption with the run's figures."""
    metrics = doc["performance_metrics"]
    table = Table(
        title=(
            f"Pre-market signals for {doc['business_date']} "
            f"(data as of {doc['as_of'] or '-'}, run {doc['status']})"
        ),
        caption=_caption(doc, metrics),
    )
    for name, justify in (
        ("Symbol", "left"),
        ("Action", "left"),
        ("Conf.", "right"),
        ("Price", "right"),
        ("Predicted (p10-p90)", "right"),
        ("Tier", "left"),
        ("Sentiment", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "Sentiment")
    for symbol, signal in doc["trading_signals"].items():
        if not signal.get("success"):
            table.add_row(symbol, "[red]ERROR[/]", "", "", "", "", signal.get("error") or "")
            continue
        price = signal["components"]["price_prediction"]
        news = signal["components"]["sentiment_analysis"]
        q = price.get("quantiles") or {}
        band = f" ({q['p10']:.2f}-{q['p90']:.2f})" if "p10" in q and "p90" in q else ""
        style = ACTION_STYLES[signal["action"].split()[0]]
        table.add_row(
            symbol,
            f"[{style}]{signal['action']}[/]",
            f"{signal['confidence']:.1%}",
            f"{signal['current_price']:.2f}",
            f"{price['predicted_price']:.2f}{band}",
            TIER_NAMES[price["tier"]] + (" *" if price.get("fallback_reason") else ""),
            _sentiment_cell(news),
        )
    return table


def _sentiment_cell(news: dict) -> str:
    if news["source"] == "no_news":
        return "no news"
    if news["source"] == "unavailable":
        return "unavailable"
    return f"{news['sentiment']} {news['signal']:+.2f} ({news['article_count']} article{'' if news['article_count'] == 1 else 's'})"


def _caption(doc: dict, metrics: dict) -> str:
    tiers = ", ".join(f"{k} {v}" for k, v in metrics["tier_counts"].items() if v)
    lines = [
        f"{metrics['successful_analyses']}/{metrics['total_symbols']} analysed; tiers: "
        f"{tiers or '-'}; {metrics['latency_ms'].get('total_ms', 0) / 1000:.2f} s; "
        f"alerts: {len(doc['alerts'])}",
    ]
    if any(
        s.get("components", {}).get("price_prediction", {}).get("fallback_reason")
        for s in doc["trading_signals"].values()
    ):
        lines.append("* fell back: see fallback_reason in the JSON")
    lines += [f"{e['symbol']} {e['stage']}: {e['error']}" for e in doc["errors"][:5]]
    if len(doc["errors"]) > 5:
        lines.append(f"... and {len(doc['errors']) - 5} more errors in the JSON")
    return "\n".join(lines)
