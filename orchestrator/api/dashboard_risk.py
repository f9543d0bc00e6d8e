"""The dashboard's risk charts: per symbol, the expected move the stored runs forecast for their
business dates, against the move those sessions made.

A point is one business date of the run history (its ``HISTORY_DAYS``): the risk forecast of the
last run made before that session opened (live runs), or of the last replay of that morning. Live runs when there are any, else the
replays (a fresh install has only the demo's replay), never the two mixed, as in the accuracy
section. The forecast is ``sigma_oc`` as a ±% expected move, with its p10-p90 band of the
session's open-to-close return; the realized move is ``|log(close / open)|`` of the session, in
percent, from the price file the dashboard and the offline scorer read (the bundled prices, or
``prices_csv``). The page never calls Yahoo, so a session that file does not hold (a live run's,
usually) shows the forecast alone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date

from orchestrator.api.dashboard_data import _ts
from orchestrator.data.calendar import TradingCalendar
from orchestrator.data.market import MarketDataError, OfflineMarketData
from orchestrator.documents.run import RiskForecast, RunResult
from premarket.settings import Settings


def _pct(value: float) -> float:
    return round(100 * value, 3)


def stored_risk(
    runs: list[RunResult], calendar: TradingCalendar
) -> dict[str, dict[date, RiskForecast]]:
    """Per symbol, the risk forecast of each business date: of the runs shown (one mode), a
    live run counts only when it was made before its session opened."""
    chosen: dict[str, dict[date, RiskForecast]] = defaultdict(dict)
    for run in sorted(runs, key=lambda r: r.started_at):
        if run.mode == "live" and not calendar.made_before_open(run.business_date, run.started_at):
            continue
        for symbol, signal in run.signals.items():
            if signal.risk is not None:  # runs in time order: the last one of a date stays
                chosen[symbol][run.business_date] = signal.risk
    return chosen


async def _realized(settings: Settings, symbol: str, days: list[date]) -> dict[date, float]:
    """``|log(close / open)|`` in percent of the sessions the price file holds."""
    try:
        market = OfflineMarketData(settings.prices_csv)
        bars = await market.bars_between(symbol, days[0], days[-1])
    except MarketDataError:
        return {}
    return {
        day: _pct(abs(math.log(close / opened)))
        for day, opened, close in bars
        if opened and close and opened > 0 and close > 0
    }


async def risk_charts(
    settings: Settings, calendar: TradingCalendar, latest: RunResult | None, runs: list[RunResult]
) -> dict:
    """Aligned uPlot series per symbol of the latest run: x, expected move (±%), realized
    absolute move (%, None where unknown), p10 and p90 (%)."""
    if latest is None:
        return {"mode": None, "charts": []}
    stored = stored_risk(runs, calendar)
    charts = []
    for symbol in latest.signals:
        forecasts = stored.get(symbol)
        if not forecasts:
            continue
        days = sorted(forecasts)
        realized = await _realized(settings, symbol, days)
        charts.append(
            {
                "symbol": symbol,
                "realized": sum(1 for d in days if d in realized),
                "data": [
                    [_ts(d) for d in days],
                    [_pct(forecasts[d].sigma_oc) for d in days],
                    [realized.get(d) for d in days],
                    [_pct(forecasts[d].p10) for d in days],
                    [_pct(forecasts[d].p90) for d in days],
                ],
            }
        )
    return {"mode": latest.mode, "charts": charts}
