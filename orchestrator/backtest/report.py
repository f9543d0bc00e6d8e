"""Turn a walk forward into numbers: per tier, overall and per symbol, as JSON and as tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest import metrics, strategy
from orchestrator.backtest.dm import dm_table, versus_benchmarks
from orchestrator.backtest.engine import WalkForward
from orchestrator.backtest.metrics import quantile_columns

BUY_AND_HOLD = "buy_and_hold"


@dataclass
class Report:
    summary: dict[str, Any]
    """JSON-ready: settings, and per tier the accuracy and strategy figures."""
    equity: dict[str, pd.Series]
    """Equal-weight equity curve per tier and for buy-and-hold, indexed by target day."""
    predictions: pd.DataFrame
    risk_rows: pd.DataFrame | None = None
    """The risk forecasts of every forecaster (``risk_forecasts``), when the section ran."""


def _accuracy(frame: pd.DataFrame) -> dict[str, Any]:
    return metrics.accuracy(
        frame["current"].to_numpy(),
        frame["point"].to_numpy(),
        frame["actual"].to_numpy(),
        quantile_columns(frame),
        frame["symbol"].to_numpy(),
    )


CUTOFFS = {
    "after_fit": "fitted_until",
    "unseen": "seen_until",
}
"""Out-of-sample blocks: days after the model's fitted data, and after all data it has seen."""


def _after(frame: pd.DataFrame, cutoff: str, threshold: float, cost_bps: float) -> dict:
    """Scores of the forecasts whose target day is after ``cutoff`` (none if all are)."""
    before = frame["target"] <= pd.Timestamp(cutoff)
    block: dict[str, Any] = {"cutoff": cutoff, "forecasts_before": int(before.sum())}
    rest = frame[~before]
    if before.any() and len(rest):
        stats, _ = strategy.evaluate(rest, strategy.positions(rest, threshold), cost_bps)
        hold, _ = strategy.evaluate(rest, np.ones(len(rest)), cost_bps)
        stats.pop("per_symbol")
        hold.pop("per_symbol")
        block.update(
            first_target=rest["target"].min().date().isoformat(),
            **_accuracy(rest),
            strategy=stats,
            **{BUY_AND_HOLD: hold},
        )
    return block


def summarize(
    run: WalkForward,
    *,
    labels: dict[str, str],
    provenance: dict[str, dict[str, Any]],
    cost_bps: float,
    signal_threshold: float,
    settings: dict[str, Any],
) -> Report:
    """Score every tier overall and per symbol, and trade each tier's signal.

    A stored model that has seen part of the period (``provenance``) gets ``out_of_sample``
    blocks too: the same scores on the days after its fitted data (``after_fit``) and after
    everything it was fitted, early-stopped or calibrated on (``unseen``).
    """
    tiers: dict[str, Any] = {}
    equity: dict[str, pd.Series] = {}
    predictions = run.predictions
    for key, frame in predictions.groupby("tier", sort=False):
        frame = frame.dropna(axis=1, how="all")
        stats, curve = strategy.evaluate(
            frame, strategy.positions(frame, signal_threshold), cost_bps
        )
        equity[key] = curve
        per_symbol_strategy = stats.pop("per_symbol")
        tiers[key] = {
            "label": labels[key],
            "seconds": run.seconds[key],
            "overall": {**_accuracy(frame), "strategy": stats},
            "per_symbol": {
                symbol: {**_accuracy(part), "strategy": per_symbol_strategy[symbol]}
                for symbol, part in frame.groupby("symbol")
            },
        }
        tiers[key]["diebold_mariano"] = versus_benchmarks(predictions, str(key))
        if key in provenance:
            tiers[key]["model"] = provenance[key]
            tiers[key]["out_of_sample"] = {
                name: _after(frame, provenance[key][field], signal_threshold, cost_bps)
                for name, field in CUTOFFS.items()
                if provenance[key].get(field)
            }
    first = predictions[predictions["tier"] == predictions["tier"].iloc[0]]
    hold, curve = strategy.evaluate(first, np.ones(len(first)), cost_bps)
    equity[BUY_AND_HOLD] = curve
    summary = {
        **settings,
        "cost_bps": cost_bps,
        "strategy_trade": strategy.TRADE,
        "signal_threshold": signal_threshold,
        "first_target": first["target"].min().date().isoformat(),
        "last_target": first["target"].max().date().isoformat(),
        "target_days": int(first["target"].nunique()),
        "forecasts_per_tier": len(first),
        "days_dropped_for_history": run.dropped,
        "tiers": tiers,
        BUY_AND_HOLD: hold,
    }
    return Report(summary=_clean(summary), equity=equity, predictions=predictions)


def _clean(value: Any) -> Any:
    """Plain JSON: six significant digits, NaN as null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(value) else float(f"{float(value):.6g}")
    if isinstance(value, np.integer):
        return int(value)
    return value


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _pct(value: float | None) -> str:
    return _num(None if value is None else 100 * value, ".1f")


def _hit(scores: dict[str, Any]) -> str:
    if scores["hit_rate"] is None:
        return "-"
    lo, hi = scores["hit_rate_ci95"]
    return f"{100 * scores['hit_rate']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _table(title: str, columns: list[str]):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=i == 0)
    return table


def overall_tables(summary: dict[str, Any]) -> list:
    """The headline tables, one row per tier: accuracy, direction, and the strategy."""
    period = (
        f"{summary['first_target']} .. {summary['last_target']}, "
        f"{len(summary['symbols'])} symbols, {summary['forecasts_per_tier']} forecasts per tier"
    )
    tiers = list(summary["tiers"].values())
    accuracy = _table(
        f"Next-close accuracy, {period}",
        ["tier", "MAE", "MAPE %", "MASE", "p10-p90 cover %", "Winkler", "pinball"],
    )
    direction = _table(
        "Direction (days it called one)",
        ["tier", "days", "hit % [95% CI]", "p vs 50%", "up days %", "p vs up", "MCC"],
    )
    trading = _table(
        f"Strategy ({strategy.TRADE}): long BUY, short SELL, flat HOLD; "
        f"{summary['cost_bps']:g} bp per trade",
        ["tier", "in market %", "trades", "total %", "annual %", "Sharpe", "max DD %"],
    )
    rows = [(tier["label"], tier["overall"]) for tier in tiers]
    holds = [("Buy and hold", summary[BUY_AND_HOLD])]
    for tier in tiers:
        for name, after in tier.get("out_of_sample", {}).items():
            if "first_target" in after:
                rows.append((f"{tier['label']} {name} from {after['first_target']}", after))
                holds.append((f"Buy and hold from {after['first_target']}", after[BUY_AND_HOLD]))
    for label, o in rows:
        s = o["strategy"]
        accuracy.add_row(
            label, _num(o["mae"], ".3f"), _num(o["mape_pct"], ".3f"),
            _num(o["mase"], ".4f"), _pct(o["coverage_p10_p90"]),
            _num(o.get("winkler_p10_p90"), ".3f"), _num(o["pinball"], ".3f"),
        )  # fmt: skip
        direction.add_row(
            label, str(o["days_called"]), _hit(o), _num(o["p_vs_half"], ".3g"),
            _pct(o["always_up_rate"]), _num(o["p_vs_always_up"], ".3g"), _num(o["mcc"], ".3f"),
        )  # fmt: skip
        trading.add_row(label, *_strategy_cells(s))
    for label, hold in dict(holds).items():
        trading.add_row(label, *_strategy_cells(hold))
    return [accuracy, dm_table(summary), direction, trading]


def _strategy_cells(s: dict[str, Any]) -> list[str]:
    return [
        _pct(s["exposure"]), str(s["trades"]), _pct(s["total_return"]),
        _pct(s["annual_return"]), _num(s["sharpe"], ".2f"), _pct(s["max_drawdown"]),
    ]  # fmt: skip


def symbol_table(summary: dict[str, Any]):
    """Per symbol: each tier's MASE, hit rate and strategy annual return."""
    table = _table(
        f"Per symbol: MASE / hit % / strategy annual % ({strategy.TRADE})",
        ["symbol", *(t["label"] for t in summary["tiers"].values()), "Buy and hold"],
    )
    for symbol in summary["symbols"]:
        cells = []
        for tier in summary["tiers"].values():
            s = tier["per_symbol"][symbol]
            cells.append(
                f"{_num(s['mase'], '.3f')} / {_pct(s['hit_rate'])} / "
                f"{_pct(s['strategy']['annual_return'])}"
            )
        hold = summary[BUY_AND_HOLD]["per_symbol"][symbol]
        table.add_row(symbol, *cells, _pct(hold["annual_return"]))
    return table
