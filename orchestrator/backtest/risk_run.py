"""The risk section of a backtest: forecasts, scores, tests, the high-risk flag and sizing.

``risk_backtest`` runs after the price tiers' walk forward (whose bands it also scores as risk
forecasts) and returns the JSON block and the rows (``--predictions`` writes the risk model's).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from orchestrator.backtest.data import History
from orchestrator.backtest.risk_forecasts import risk_forecasts
from orchestrator.backtest.risk_report import summarize_risk
from orchestrator.backtest.risk_strategy import sizing_comparison
from premarket.risk.model import InsufficientHistory

DIRECTION_TIERS = ("tft", "nhits", "statistical", "drift")
"""The tier whose direction the sizing books trade: the first of these that ran."""


def risk_backtest(
    histories: dict[str, History],
    predictions: pd.DataFrame,
    start: date,
    end: date,
    cost_bps: float,
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """The risk block, or ``{"skipped": why}`` when the history is too short to fit the model."""
    try:
        rows, sessions = risk_forecasts(histories, start, end, predictions)
    except InsufficientHistory as exc:
        return {"skipped": str(exc)}, None
    summary = summarize_risk(rows, sessions)
    ran = set(predictions["tier"])
    tier = next((t for t in DIRECTION_TIERS if t in ran), None)
    if tier is not None:
        summary["sizing"] = sizing_comparison(rows, predictions, histories, cost_bps, tier)
    return summary, rows
