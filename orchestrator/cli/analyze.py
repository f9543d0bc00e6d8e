"""``premarket analyze``: one run, a table of the signals, optionally the JSON document.

Exits 1 when the run failed (no symbol analysed, or the run could not be stored), so a cron job
or ``make demo`` notices; 3 when it is partial (some symbols failed or had stale data, listed)
and 4 when it is degraded (both model services down, or no alert delivered; ``jobs.health``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from pathlib import Path

from rich.table import Table

from orchestrator.cli import exits
from orchestrator.cli.args import add_price_source, iso_date, settings_for, table_console
from orchestrator.cli.exits import UsageError
from orchestrator.documents.run import RiskForecast, RunResult, SentimentAnalysis, SymbolSignal
from premarket.protocol import is_ticker

ACTION_STYLES = {"BUY": "green", "SELL": "red", "HOLD": "yellow"}
TIER_NAMES = {"tft": "TFT", "nhits": "N-HITS", "ensemble": "Ensemble", "statistical": "Statistical"}


def _symbols(text: str) -> list[str]:
    found = [s.upper() for s in text.replace(",", " ").split() if s]
    if not found:  # `--symbols ""` is a typo, not "every symbol"
        raise argparse.ArgumentTypeError("no ticker given; e.g. --symbols AAPL MSFT")
    if bad := [s for s in found if not is_ticker(s)]:
        raise argparse.ArgumentTypeError(f"{bad[0]!r} is not a ticker (e.g. AAPL, BRK-B, ^GSPC)")
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--symbols",
        nargs="+",
        type=_symbols,
        metavar="SYM",
        help="Symbols (default: settings; with --prices, every symbol of the file).",
    )
    parser.add_argument(
        "--as-of", type=iso_date, metavar="DATE", help="Only data up to this date is visible."
    )
    add_price_source(parser, "Bundled (or --prices) data and bundled news.")
    parser.add_argument("--json", type=Path, metavar="FILE", help="Write the result document.")


def run(args: argparse.Namespace) -> int:
    from orchestrator.jobs.analysis import run_analysis

    settings = settings_for(args)
    symbols = [s for group in args.symbols for s in group] if args.symbols else None
    if symbols is None and args.prices:  # the file's own symbols, not the default universe
        symbols = _file_symbols(args.prices)
    if args.as_of is not None:
        check_as_of(args.as_of)
    if args.offline and args.as_of is not None:
        _check_within_file(settings.prices_csv, args.as_of)
    result = asyncio.run(
        run_analysis(settings, symbols=symbols, as_of=args.as_of, offline=args.offline)
    )
    console = table_console()
    console.print(render(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_document(), indent=2))
        console.print(f"Result written to {args.json}")
    if undelivered := [a for a in result.alerts if a.errors]:
        print(f"premarket: {_alert_counts(result)}", file=sys.stderr)
        for alert in undelivered:
            print(
                f"  {alert.level} {alert.symbol}: {'; '.join((alert.errors or {}).values())}",
                file=sys.stderr,
            )
    for reason in result.degraded:
        print(f"premarket: degraded: {reason}", file=sys.stderr)
    return exits.of_status(result.status, bool(result.degraded))


def check_as_of(day: date) -> None:
    """The API's rule for a replayed morning (``data.calendar.out_of_range``): a usage error."""
    from orchestrator.common.clock import new_york_date, utc_now
    from orchestrator.data.calendar import out_of_range

    if why := out_of_range(day, new_york_date(utc_now())):
        raise UsageError(f"--as-of: {why}")


def _check_within_file(prices: Path | None, as_of: date) -> None:
    """``--as-of`` past the file's last date would replay a morning with no data for it."""
    from orchestrator.data.market import OfflineMarketData

    market = OfflineMarketData(prices)
    last = market.last_date()
    if as_of > last:
        name = market.csv_path.name
        raise UsageError(f"--as-of {as_of} is after the last date in {name} ({last})")


def _file_symbols(path: Path) -> list[str]:
    from premarket.prices import PriceFileError, read_prices

    try:
        return read_prices(path).symbols
    except PriceFileError as exc:
        raise UsageError(f"--prices: {exc}") from None


def render(result: RunResult) -> Table:
    """The run as a rich table: one row per symbol, a caption with the run's figures."""
    table = Table(
        title=(
            f"Pre-market signals for {result.business_date} "
            f"(data as of {result.as_of or '-'}, run {result.status}"
            f"{', DEGRADED' if result.degraded else ''})"
        ),
        caption=_caption(result),
    )
    for name, justify in (
        ("Symbol", "left"),
        ("Action", "left"),
        ("Prob.", "right"),
        ("Price", "right"),
        ("Predicted (p10-p90)", "right"),
        ("Expected move", "right"),
        ("Tier", "left"),
        ("Sentiment", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "Sentiment")
    for symbol, signal in result.trading_signals.items():
        if not isinstance(signal, SymbolSignal):
            table.add_row(symbol, "[red]ERROR[/]", "", "", "", "", "", signal.error or "")
            continue
        price = signal.price
        q = price.quantiles or {}
        band = f" ({q['p10']:.2f}-{q['p90']:.2f})" if "p10" in q and "p90" in q else ""
        style = ACTION_STYLES[signal.side]
        table.add_row(
            symbol,
            f"[{style}]{signal.action}[/]",
            f"{signal.confidence:.1%} {signal.probability_label}",
            f"{signal.current_price:.2f}" + (" [yellow]stale[/]" if signal.stale else ""),
            _forecast_cell(signal, band),
            _risk_cell(signal.risk),
            TIER_NAMES[price.tier] + (" *" if price.fallback_reason else ""),
            _sentiment_cell(signal.sentiment),
        )
    return table


def _forecast_cell(signal: SymbolSignal, band: str) -> str:
    """The point forecast and its band, or only the band ("band (p10-p90)") when the
    forecast's direction carries no weight in the probability; "-" without either."""
    if signal.forecast_has_weight:
        return f"{signal.price.predicted_price:.2f}{band}"
    return f"band{band}" if band else "-"


def expected_move(risk: RiskForecast | None) -> str:
    """The forecast's ``label``; ``-`` without a risk forecast."""
    return "-" if risk is None else risk.label


def _risk_cell(risk: RiskForecast | None) -> str:
    """The expected move, and HIGH under it when it is well above the symbol's normal (its own
    line keeps the table within 120 columns, and the marker in view)."""
    high = "\n[bold red]HIGH[/]" if risk is not None and risk.high_risk else ""
    return expected_move(risk) + high


def _sentiment_cell(news: SentimentAnalysis) -> str:
    if news.source == "no_news":
        return "no news"
    if news.source == "unavailable":
        return "unavailable"
    plural = "" if news.article_count == 1 else "s"
    return f"{news.sentiment} {news.signal:+.2f} ({news.article_count} article{plural})"


def _alert_counts(result: RunResult) -> str:
    """``3 sent, 1 failed`` (an alert fails when a channel could not deliver it)."""
    sent = sum(1 for a in result.alerts if a.delivered)
    failed = sum(1 for a in result.alerts if a.errors)
    repeats = sum(1 for a in result.alerts if a.duplicate)
    return f"{sent} sent, {failed} failed" + (f", {repeats} already sent" if repeats else "")


def _caption(result: RunResult) -> str:
    metrics = result.performance_metrics
    tiers = ", ".join(f"{k} {v}" for k, v in metrics.tier_counts.items() if v)
    lines = [
        f"{metrics.successful_analyses}/{metrics.total_symbols} analysed; tiers: "
        f"{tiers or '-'}; {(metrics.latency_ms.get('total_ms') or 0) / 1000:.2f} s; "
        f"alerts: {_alert_counts(result)}",
    ]
    lines += [f"DEGRADED: {reason}" for reason in result.degraded]
    if result.cost is not None and result.cost.per_prediction_usd is not None:
        cost = result.cost
        amortised = (
            f", amortised ${cost.amortised_per_prediction_usd:.4f} with the host's day"
            if cost.amortised_per_prediction_usd is not None
            else ""
        )
        lines.append(
            f"cost: ${cost.total_usd:.6f} (${cost.per_prediction_usd:.6f} per prediction "
            f"marginal{amortised}; {cost.device} at ${cost.hour_usd:.2f}/h)"
        )
    if any(s.price.fallback_reason for s in result.signals.values()):
        lines.append("* fell back: see fallback_reason in the JSON")
    for symbol in result.stale:
        lines.append(f"{symbol}: stale data, last bar {result.signals[symbol].data_as_of}")
    lines += [f"{e.symbol} {e.stage}: {e.error}" for e in result.errors[:5]]
    if len(result.errors) > 5:
        lines.append(f"... and {len(result.errors) - 5} more errors in the JSON")
    return "\n".join(lines)
