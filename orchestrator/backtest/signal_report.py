"""The combined signal's backtest as tables and the reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.backtest.calibration import reliability_chart

LABELS = {
    "signal": "Signal (price + news, calibrated)",
    "price_only": "Price only (calibrated)",
    "news_only": "News only (calibrated)",
    "original": "Original 0.6/0.4 rule (uncalibrated)",
    "always_up": "Always up",
    "coin_flip": "Coin flip",
}


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def signal_tables(summary: dict[str, Any]) -> list:
    """One table per subset of held-out sessions (all, news-covered, with news)."""
    from rich.table import Table

    signal = summary["signal"]
    tables = []
    for subset, block in signal["held_out"].items():
        table = Table(
            title=(
                f"Signal walk-forward ({signal['target']}), held-out {subset.replace('_', ' ')} "
                f"sessions {signal['first_target']}..{signal['last_target']}: {block['sessions']}"
                f"; price tier {signal['price_tier']}"
            ),
            title_justify="left",
        )
        _add_columns(
            table,
            ["forecaster", "hit % [95% CI]", "mean conf %", "Brier", "always-up Brier",
             "ECE", "in market %", "annual % after costs", "Sharpe"],
        )  # fmt: skip
        for key, label in LABELS.items():
            c, s = block[key]["calibration"], block[key]["strategy"]
            ci = c["hit_rate_ci95"] or [None, None]
            table.add_row(
                label,
                f"{_pct(c['hit_rate'])} [{_pct(ci[0])}, {_pct(ci[1])}]",
                _pct(c["mean_confidence"]),
                _num(c["brier"], ".4f"),
                _num(c["always_up_brier"], ".4f"),
                _num(c["ece"], ".4f"),
                _pct(s.get("exposure")),
                _pct(s.get("annual_return")),
                _num(s.get("sharpe"), ".2f"),
            )
        tables.append(table)
    if "gap" in signal:
        tables += gap_tables(signal["gap"])
    if "sessions" in signal.get("news_head", {}):
        tables.append(head_table(signal["news_head"]))
    return tables


def head_table(head: dict[str, Any]):
    """The news head trained on returns (``orchestrator.backtest.news_head``) against the
    3-class feature and the base rate, on the held-out sessions with news."""
    from rich.table import Table

    years = ", ".join(str(y) for y in head["test_years"])
    table = Table(
        title=f"Headlines read for returns, held-out sessions with news ({years}): "
        f"{head['sessions']}; the text's own sign (less the mean move) right {_pct(head['head_sign_hit_rate'])}%",
        title_justify="left",
    )
    _add_columns(table, ["news read as", *SCORE_COLUMNS])
    labels = {"base_rate": "nothing (base rate)", "news": "3-class sentiment", "head": "ridge head"}
    for key, label in labels.items():
        table.add_row(label, *_score_cells(head[key]))
    return table


SCORE_COLUMNS = ("Brier", "skill vs base %", "ECE", "DM p", "hit % [95% CI by day]", "BUY/SELL %")
"""The columns of ``backtest.direction_scores`` in the studies' tables."""


def _score_cells(row: dict[str, Any]) -> list[str]:
    """One ``direction_scores`` block as the cells of :data:`SCORE_COLUMNS`."""
    ci, dm = row["hit_rate_ci95"], row["dm_vs_base_rate"] or {}
    return [
        _num(row["brier"], ".5f"),
        _num(100 * row["brier_skill"], "+.3f"),
        _num(row["ece"], ".4f"),
        _num(dm.get("p_value"), ".2f"),
        f"{_pct(row['hit_rate'])} [{_pct(ci[0])}, {_pct(ci[1])}]",
        _pct(row["traded_share"]),
    ]


def _add_columns(table, names: list[str]) -> None:
    """The first column left-aligned (labels), the rest right-aligned (figures)."""
    for i, name in enumerate(names):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=i == 0)


GAP_LABELS = {
    "base_rate": "base rate (fit years' up share)",
    "news": "news (3-class sentiment)",
    "gap": "overnight gap",
    "gap_news": "gap + news",
    "gap_x_news": "gap + news + gap x news",
}


def gap_tables(gap: dict[str, Any]) -> list:
    """The overnight-gap study (``orchestrator.backtest.gap_study``): each variant against the
    base rate on the held-out sessions, all and with news."""
    from rich.table import Table

    tables = []
    for subset in ("all", "with_news"):
        block = gap.get(subset)
        if not block:
            continue
        title = f"Overnight gap, held-out {subset.replace('_', ' ')} sessions: {block['rows']}"
        table = Table(title=title, title_justify="left")
        _add_columns(
            table, ["features", *SCORE_COLUMNS, "trades", "bp per trade at 0 / 5 / 10 bp slippage"]
        )
        for key, label in GAP_LABELS.items():
            row = block[key]
            books = row["book"]["by_slippage"]
            table.add_row(
                label,
                *_score_cells(row),
                str(row["book"]["trades"]),
                " / ".join(_num(books[k]["bp_per_trade"], "+.1f") for k in ("0bp", "5bp", "10bp")),
            )
        tables.append(table)
    return tables


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def write_reliability(summary: dict[str, Any], directory: Path) -> Path:
    """``reliability.png``: stated against observed P(up) on the held-out sessions."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "reliability.png"
    curves = {LABELS[k]: rows for k, rows in summary["signal"]["reliability"].items()}
    reliability_chart(curves, path)
    return path
