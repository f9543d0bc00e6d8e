"""``premarket backtest``: the walk forward from the command line.

Example (the documented run on the bundled prices)::

    premarket backtest --start 2022-01-01 --end 2023-12-31 --json backtest.json --plots plots/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orchestrator.cli.args import iso_date
from premarket.data import PRICES_CSV
from premarket.protocol import RECOMMENDATION_THRESHOLD

HELP = "walk-forward backtest of every forecast tier on a price CSV"


def _symbols(values: list[str]) -> list[str]:
    return [s.upper() for v in values for s in v.replace(",", " ").split() if s]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        type=Path,
        default=PRICES_CSV,
        help="CSV with symbol,date,open,high,low,close,volume (default: the bundled prices)",
    )
    parser.add_argument("--symbols", nargs="+", default=[], help="default: all in the CSV")
    parser.add_argument(
        "--start", type=iso_date, required=True, help="first target day, YYYY-MM-DD"
    )
    parser.add_argument("--end", type=iso_date, required=True, help="last target day, YYYY-MM-DD")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--plots", type=Path, help="write PNG charts into this directory")
    parser.add_argument(
        "--tiers",
        nargs="+",
        default=["tft", "nhits", "statistical"],
        choices=["tft", "nhits", "statistical"],
        help="model tiers to run (the random-walk, drift, GARCH(1,1)-t and historical-quantile baselines always run)",
    )
    parser.add_argument(
        "--cost-bps", type=float, default=5.0, help="cost per unit traded, basis points"
    )
    parser.add_argument(
        "--signal-threshold",
        type=float,
        default=RECOMMENDATION_THRESHOLD,
        help="|signal score| for BUY/SELL (default: the services' rule); 0 trades every call",
    )
    parser.add_argument(
        "--history", type=int, help="rows per model forecast (default: chain.history_days)"
    )
    parser.add_argument("--fan-symbol", help="symbol of the fan chart (default: the first)")
    parser.add_argument(
        "--news",
        action="store_true",
        help="also backtest the combined signal (price + bundled news, calibrated walk-forward)",
    )
    parser.add_argument(
        "--decision-tier",
        help="price tier feeding the signal (default: statistical, which fits nothing)",
    )
    parser.add_argument(
        "--decision-data",
        type=Path,
        help="with --news: write the signal's rows (for models.decision.train)",
    )
    parser.add_argument(
        "--predictions",
        type=Path,
        help="write the risk model's forecasts, one row per symbol and target session "
        "(symbol,date,sigma_oc,range_hl,p10,p90,...; open-to-close log returns)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the backtest the arguments describe; one-line errors, exit status 2 on bad input."""
    from rich.console import Console

    from orchestrator.backtest import BacktestConfig, BacktestError, load_prices, run_backtest
    from orchestrator.backtest.report import overall_tables, symbol_table

    try:
        history = args.history or _history_days()
        if history < 2:
            raise BacktestError("--history: must be at least 2 rows")
        if args.cost_bps < 0:
            raise BacktestError("--cost-bps: must not be negative")
        config = BacktestConfig(
            prices=args.prices,
            start=args.start,
            end=args.end,
            symbols=_symbols(args.symbols),
            tiers=args.tiers,
            cost_bps=args.cost_bps,
            signal_threshold=args.signal_threshold,
            history=history,
            news=args.news,
            decision_tier=args.decision_tier,
            decision_data=args.decision_data,
            **_signal_settings(),
        )
        histories = load_prices(config.prices, config.symbols)
        fan_symbol = (args.fan_symbol or next(iter(histories))).upper()
        if fan_symbol not in histories:
            raise BacktestError(f"--fan-symbol: {fan_symbol} is not among the symbols tested")
        report = run_backtest(config, progress=not args.no_progress, histories=histories)
    except (BacktestError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, reason in report.summary["skipped"].items():
        print(f"skipped {key}: {reason}", file=sys.stderr)
    for key, tier in report.summary["tiers"].items():
        blocks = tier.get("out_of_sample", {})
        fit, seen = blocks.get("after_fit", {}), blocks.get("unseen", {})
        if fit.get("forecasts_before") or seen.get("forecasts_before"):
            print(
                f"note: {key} was fitted on data up to {fit.get('cutoff', '?')} and has seen "
                f"data up to {seen.get('cutoff', '?')} (early stopping, calibration): "
                f"{fit.get('forecasts_before', '?')} of its forecasts are in its fitted range, "
                f"{seen.get('forecasts_before', '?')} in the data it has seen; rows "
                "'after_fit/unseen from <date>' score only the days after",
                file=sys.stderr,
            )
    out = Console(width=None if sys.stdout.isatty() else 150)
    for table in [*overall_tables(report.summary), symbol_table(report.summary)]:
        out.print(table)
    risk = report.summary.get("risk", {})
    if "forecasters" in risk:
        from orchestrator.backtest.risk_report import risk_table
        from orchestrator.backtest.risk_strategy import sizing_table

        out.print(risk_table(risk))
        if "sessions" in risk.get("sizing", {}):
            out.print(sizing_table(risk["sizing"]))
    elif "skipped" in risk:
        print(f"skipped risk: {risk['skipped']}", file=sys.stderr)
    if "signal" in report.summary:
        from orchestrator.backtest.signal_report import signal_tables

        for table in signal_tables(report.summary):
            out.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.summary, indent=2) + "\n")
        print(f"figures written to {args.json}", file=sys.stderr)
    if args.predictions:
        if report.risk_rows is None:
            print("error: --predictions: the risk section did not run", file=sys.stderr)
            return 2
        from orchestrator.backtest.risk_report import write_predictions

        path = write_predictions(report.risk_rows, args.predictions)
        print(f"risk forecasts written to {path}", file=sys.stderr)
    if args.plots:
        from orchestrator.backtest.charts import write_charts

        for path in write_charts(report, args.plots, fan_symbol):
            print(f"chart written to {path}", file=sys.stderr)
        if "signal" in report.summary:
            from orchestrator.backtest.signal_report import write_reliability

            path = write_reliability(report.summary, args.plots)
            print(f"chart written to {path}", file=sys.stderr)
    return 0


def _signal_settings() -> dict:
    from premarket.settings import load_settings

    settings = load_settings()
    return {"signal": settings.signal, "state_dir": settings.state_dir}


def _history_days() -> int:
    from premarket.settings import load_settings

    return load_settings().chain.history_days


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="premarket backtest", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
