"""Rolling accuracy figures and their chart, from the scores in ``tracking.accuracy``.

Figures cover the last 20, 60 and 250 sessions up to a reference date (by default the latest
scored session, so a replay of past dates still has figures), per symbol and per tier, with the
hit rate's 95% Wilson interval. A longer window that holds no more scores than a shorter one
is left out rather than printed as a copy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from orchestrator.common.charts import pyplot, save
from orchestrator.data.calendar import TradingCalendar
from orchestrator.tracking.accuracy import Kind, Score
from orchestrator.tracking.metrics import wilson_interval

WINDOWS = (20, 60, 250)


@dataclass(frozen=True)
class Summary:
    """Rolling figures of one group (a symbol or a tier) for one kind and window."""

    group_by: Literal["symbol", "tier"]
    group: str
    kind: Kind
    window: int
    count: int
    direction_hit_rate: float | None
    mean_abs_pct_error: float | None
    band_coverage: float | None
    hit_rate_low: float | None = None
    hit_rate_high: float | None = None
    """The 95% Wilson interval of ``direction_hit_rate``."""
    brier: float | None = None
    """The signal's Brier score (``session`` kind only): mean (probability - outcome)²."""


def _summarise(scores: list[Score]) -> tuple[float | None, float | None, float | None]:
    if not scores:
        return None, None, None
    banded = [s.in_band for s in scores if s.in_band is not None]
    return (
        sum(s.direction_hit for s in scores) / len(scores),
        sum(s.abs_pct_error for s in scores) / len(scores),
        sum(banded) / len(banded) if banded else None,
    )


def rolling(
    scores: list[Score],
    calendar: TradingCalendar,
    as_of: date | None = None,
    windows: tuple[int, ...] = WINDOWS,
) -> tuple[date | None, list[Summary]]:
    """Figures over the last ``windows`` sessions up to ``as_of``, per symbol and per tier."""
    if not scores:
        return as_of, []
    as_of = as_of or max(s.target_date for s in scores)
    rows = []
    previous: list[Score] | None = None
    for window in sorted(windows):
        start = calendar.sessions_back(as_of, window)[0]
        inside = [s for s in scores if start <= s.target_date <= as_of]
        if previous is not None and len(inside) == len(previous):
            continue  # no score older than the shorter window: the same figures again
        previous = inside
        for group_by in ("symbol", "tier"):
            groups: dict[tuple[str, Kind], list[Score]] = defaultdict(list)
            for s in inside:
                groups[(getattr(s, group_by), s.kind)].append(s)
            for (group, kind), members in sorted(groups.items()):
                hit, error, band = _summarise(members)
                hits = sum(s.direction_hit for s in members)
                low, high = wilson_interval(hits, len(members)) or (None, None)
                brier = (
                    sum((s.predicted - s.realized) ** 2 for s in members) / len(members)
                    if kind == "session"
                    else None
                )
                rows.append(
                    Summary(
                        group_by,
                        group,
                        kind,
                        window,
                        len(members),
                        hit,
                        error,
                        band,
                        low,
                        high,
                        brier,
                    )  # type: ignore[arg-type]
                )
    return as_of, rows


def accuracy_document(
    scores: list[Score], calendar: TradingCalendar, as_of: date | None = None
) -> dict:
    """The JSON the API serves and the CLI prints: ``scored`` counts scores (a forecast has one
    per horizon), ``forecasts`` the forecasts they score."""
    as_of, rows = rolling(scores, calendar, as_of)
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "windows": list(WINDOWS),
        "scored": len(scores),
        "forecasts": len({s.forecast_id for s in scores}),
        "modes": sorted({s.mode for s in scores}),
        "rows": [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(row).items()}
            for row in rows
        ],
    }


def plot(scores: list[Score], calendar: TradingCalendar, path: Path, window: int = 20) -> Path:
    """A PNG: rolling direction hit rate and mean absolute % error per tier (next-day scores)."""
    plt = pyplot()
    next_day = [s for s in scores if s.kind == "next_day"]
    figure, (hits_ax, error_ax) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    tiers = sorted({s.tier for s in next_day})
    days = sorted({s.target_date for s in next_day})
    for tier in tiers:
        mine = [s for s in next_day if s.tier == tier]
        xs, hit_rates, errors = [], [], []
        for day in days:
            start = calendar.sessions_back(day, window)[0]
            inside = [s for s in mine if start <= s.target_date <= day]
            if inside:
                hit, error, _ = _summarise(inside)
                xs.append(datetime.combine(day, datetime.min.time()))
                hit_rates.append(100.0 * hit)  # type: ignore[operator]
                errors.append(error)
        hits_ax.plot(xs, hit_rates, label=tier)
        error_ax.plot(xs, errors, label=tier)
    hits_ax.axhline(50.0, color="grey", linestyle="--", linewidth=0.8)
    hits_ax.set_ylabel(f"direction hit %\n({window}-session)")
    error_ax.set_ylabel(f"mean abs % error\n({window}-session)")
    hits_ax.set_title("Next-day forecast accuracy by tier")
    if tiers:
        hits_ax.legend(loc="best")
    _daily_axis(error_ax, days)
    figure.autofmt_xdate()
    return save(figure, path, dpi=100)


def _daily_axis(axis, days: list[date]) -> None:
    """Dates, never hours: daily scores on a short span would otherwise get hourly ticks."""
    from matplotlib.dates import AutoDateLocator, DateFormatter, DayLocator

    span = (days[-1] - days[0]).days if days else 0
    axis.xaxis.set_major_locator(DayLocator() if span < 10 else AutoDateLocator(minticks=3))
    axis.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    if span == 0 and days:  # one day: a visible one-day range around it
        moment = datetime.combine(days[0], datetime.min.time())
        axis.set_xlim(moment - timedelta(days=1), moment + timedelta(days=1))
