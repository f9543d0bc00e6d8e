"""What the dashboard shows, gathered from the store: plain data for the template and the charts.

Every figure comes from something stored (runs, forecasts, scores, the paper book); nothing is
made up for display. A symbol's fan chart shows the closes the forecast saw (the bundled prices
for an offline run; for a live run the current prices that earlier stored forecasts saw, so the
page never calls Yahoo), the predicted path over the next sessions, and the p10-p90 band of the
next close (the band the models give: one session, not the whole path).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from orchestrator.data.calendar import TradingCalendar
from orchestrator.data.market import MarketDataError, OfflineMarketData
from orchestrator.documents.run import RunResult, SymbolSignal
from orchestrator.storage.store import Store
from orchestrator.storage.tables import forecast_scores, forecasts
from orchestrator.tracking.accuracy import Score
from orchestrator.tracking.accuracy_report import rolling
from orchestrator.tracking.paper_account import PaperAccount, report
from premarket.settings import Settings

CLOSES_SHOWN = 20
"""Closes before the forecast: the 5-session path then takes a fifth of the chart."""
HISTORY_DAYS = 30
ROLLING_WINDOW = 20
RELIABILITY_BINS = 10
MIN_PER_BIN = 20
"""Forecasts per reliability bin at least: fewer bins when fewer forecasts are scored."""
TRADES_SHOWN = 20
COST_GOAL_USD = 0.15  # the seeds' goal per prediction


def _ts(day: date) -> int:
    """Unix seconds of a date (uPlot's time axis)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class RunRow:
    """One row of the run history."""

    run: RunResult
    fallbacks: int
    total_s: float | None

    @property
    def tiers(self) -> str:
        counts = self.run.performance_metrics.tier_counts
        return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "-"


async def _closes(
    settings: Settings, store: Store, run: RunResult, symbol: str, signal: SymbolSignal
) -> tuple[list[tuple[date, float]], str]:
    """Recent closes up to the forecast's data date, and where they come from."""
    if run.offline:
        try:
            market = OfflineMarketData(settings.prices_csv, signal.data_as_of)
            bars = await market.history(symbol, CLOSES_SHOWN)
            return list(zip(bars.dates, bars.close, strict=True)), "bundled prices"
        except MarketDataError:
            pass
    seen = {f["as_of"]: f["current_price"] for f in store.forecasts(symbol=symbol)}
    seen[signal.data_as_of] = signal.current_price
    days = sorted(d for d in seen if d <= signal.data_as_of)[-CLOSES_SHOWN:]
    return [(d, seen[d]) for d in days], "closes seen by stored forecasts"


async def fan_chart(
    settings: Settings,
    store: Store,
    calendar: TradingCalendar,
    run: RunResult,
    symbol: str,
    signal: SymbolSignal,
) -> dict:
    """Aligned uPlot series: x, closes, predicted path, p10 and p90 (None where not defined)."""
    closes, source = await _closes(settings, store, run, symbol, signal)
    path = signal.price.forecast_path
    ahead = calendar.sessions_after(signal.data_as_of, len(path)) if path else []
    quantiles = signal.price.quantiles or {}
    n_past, n_ahead = len(closes), len(ahead)
    x = [_ts(d) for d, _ in closes] + [_ts(d) for d in ahead]
    last = signal.current_price
    close_s = [c for _, c in closes] + [None] * n_ahead
    path_s = [None] * (n_past - 1) + [last] + list(path)
    p10 = [None] * (n_past + n_ahead)
    p90 = list(p10)
    if "p10" in quantiles and "p90" in quantiles and n_ahead:
        p10[n_past - 1], p90[n_past - 1] = last, last
        p10[n_past], p90[n_past] = quantiles["p10"], quantiles["p90"]
    return {"symbol": symbol, "source": source, "data": [x, close_s, path_s, p10, p90]}


def _scores_with_confidence(store: Store, kind: str = "next_day") -> list[tuple[Score, float]]:
    """Scores of ``kind`` with the confidence their forecast stated (the reliability diagram)."""
    query = (
        select(forecast_scores, forecasts.c.confidence)
        .join(forecasts, forecasts.c.id == forecast_scores.c.forecast_id)
        .where(forecast_scores.c.kind == kind)
        .order_by(forecast_scores.c.target_date)
    )
    names = set(Score.__dataclass_fields__)
    with store.engine.connect() as conn:
        rows = [r._mapping for r in conn.execute(query)]
    return [(Score(**{k: r[k] for k in names}), float(r["confidence"])) for r in rows]


def accuracy_view(store: Store, calendar: TradingCalendar, mode: str) -> dict:
    """Rolling hit rate and band coverage per scored session, reliability bins, tier figures,
    of the mode the page shows (``Store.mode_shown``), never the two mixed."""
    pairs = [(s, c) for s, c in _scores_with_confidence(store) if s.mode == mode]
    scores = [s for s, _ in pairs]
    days = sorted({s.target_date for s in scores})
    x, hit, band, sessions = [], [], [], []
    for day in days:
        start = calendar.sessions_back(day, ROLLING_WINDOW)[0]
        inside = [s for s in scores if start <= s.target_date <= day]
        banded = [s.in_band for s in inside if s.in_band is not None]
        sessions.append(len({s.target_date for s in inside}))
        x.append(_ts(day))
        hit.append(round(100 * sum(s.direction_hit for s in inside) / len(inside), 2))
        band.append(round(100 * sum(banded) / len(banded), 2) if banded else None)
    # The signal's own probability against its session when it is calibrated and scored;
    # otherwise the price models' stated confidence against the next close.
    signal = [
        s for s in (s for s, _ in _scores_with_confidence(store, "session")) if s.mode == mode
    ]
    stated = (
        [(max(s.predicted, 1 - s.predicted), s.direction_hit) for s in signal]
        if signal
        else [(c, s.direction_hit) for s, c in pairs]
    )
    reliability = reliability_bins(stated)
    as_of, rows = rolling(scores, calendar) if scores else (None, [])
    tiers = [r for r in rows if r.group_by == "tier" and r.kind == "next_day"]
    return {
        "scored": len(scores),
        "mode": mode,
        "as_of": as_of,
        "window": ROLLING_WINDOW,
        "window_sessions": (min(sessions), max(sessions)) if sessions else None,
        "rolling": [x, hit, band],
        "reliability": reliability,
        "reliability_of": (
            "the signal's probability, its session open to close"
            if signal
            else "the price models' confidence, the next close"
        ),
        "tiers": tiers,
    }


def reliability_bins(stated: list[tuple[float, bool]]) -> dict | None:
    """Stated probability against the observed hit rate, in bins of equal counts (so every bin
    has data: calibrated probabilities crowd near 51%, where fixed-width deciles would put all
    of them in one bin), and the square both axes span (the data plus a margin, in percent)."""
    if not stated:
        return None
    ordered = sorted(stated, key=lambda pair: pair[0])  # by stated value only, never outcome
    k = max(1, min(RELIABILITY_BINS, len(ordered) // MIN_PER_BIN))
    bins = []
    for i in range(k):
        members = ordered[i * len(ordered) // k : (i + 1) * len(ordered) // k]
        bins.append(
            {
                "stated": round(100 * sum(c for c, _ in members) / len(members), 2),
                "observed": round(100 * sum(h for _, h in members) / len(members), 2),
                "count": len(members),
            }
        )
    values = [b[key] for b in bins for key in ("stated", "observed")]
    low = max(0, 5 * math.floor((min(values) - 3) / 5))
    high = min(100, 5 * math.ceil((max(values) + 3) / 5))
    return {"bins": bins, "range": [low, high]}


def paper_view(store: Store, settings: Settings) -> dict:
    """The paper book: equity curve (starting cash first), open positions and the latest
    closed trades (newest first, each with its P&L after costs)."""
    book = PaperAccount(store.engine, settings.paper).load()
    days = sorted(book.equity_curve)
    return {
        "report": report(book, settings.paper),
        "curve": [[_ts(d) for d in days], [round(book.equity_curve[d], 2) for d in days]],
        "trades": list(reversed(book.trades[-TRADES_SHOWN:])),
    }


def run_history(store: Store, until: date, replays: bool | None = None) -> list[RunRow]:
    """The runs of the ``HISTORY_DAYS`` business dates up to ``until``, newest first."""
    rows = []
    for run in store.recent_runs(HISTORY_DAYS, until, replays):
        fallbacks = sum(1 for s in run.signals.values() if s.price.fallback_reason)
        total_ms = run.performance_metrics.latency_ms.get("total_ms")
        rows.append(RunRow(run, fallbacks, round(total_ms / 1000, 2) if total_ms else None))
    return rows


async def dashboard_view(
    settings: Settings,
    store: Store,
    calendar: TradingCalendar,
    today: date,
    replays: bool | None = None,
) -> dict:
    """Everything the page shows except service health (the API's ``/health`` document): the
    latest live run and its history, or replays when asked (or when the store has no live run)."""
    t0 = time.perf_counter()
    mode = store.mode_shown(replays)
    latest = store.latest_run(mode == "replay")
    signals = latest.signals.items() if latest else ()
    fans = [await fan_chart(settings, store, calendar, latest, s, sig) for s, sig in signals]
    return {
        "latest": latest,
        "fans": fans,
        # Up to the latest run's date, not today: a store of replayed mornings has a history too.
        "history": run_history(store, latest.business_date if latest else today, mode == "replay"),
        "mode": mode,
        "accuracy": accuracy_view(store, calendar, mode),
        "paper": paper_view(store, settings),
        "cost_goal_usd": COST_GOAL_USD,
        "built_ms": round((time.perf_counter() - t0) * 1000, 1),
    }
