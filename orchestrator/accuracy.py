"""Accuracy tracking: every stored forecast scored against the closes that came true.

A forecast saw closes up to its ``as_of`` date. It is scored twice, each once its target close
is known: ``next_day`` against the first NYSE session after ``as_of`` (predicted price, stored
direction, and whether the close fell inside the p10-p90 band), and ``horizon`` against the
last session of its forecast path (when the path is longer than one day). A score records the
direction hit, the absolute percentage error and the band hit; scores are kept in the store,
so each forecast is scored once and survives the purge of old run documents.

Rolling figures cover the last 20, 60 and 250 sessions up to a reference date (by default the
latest scored session, so a replay of past dates still has figures), per symbol and per tier.
The original compared predictions with later closes too, but never on a fixed rule; its
claimed 58-70% direction accuracy was never measured this way.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    and_,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from orchestrator.charts import pyplot, save
from orchestrator.clock import utc_now
from orchestrator.market import MarketData, MarketDataError
from orchestrator.store import forecasts, metadata
from orchestrator.trading_calendar import TradingCalendar
from premarket.protocol import direction_of

log = logging.getLogger(__name__)

Kind = Literal["next_day", "horizon"]
KINDS: tuple[Kind, ...] = ("next_day", "horizon")
WINDOWS = (20, 60, 250)

forecast_scores = Table(
    "forecast_scores",
    metadata,
    Column("forecast_id", Integer, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("run_id", String(80), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("symbol", String(16), nullable=False, index=True),
    Column("tier", String(16), nullable=False, index=True),
    Column("target_date", Date, nullable=False, index=True),
    Column("predicted", Float, nullable=False),
    Column("realized", Float, nullable=False),
    Column("direction_hit", Boolean, nullable=False),
    Column("abs_pct_error", Float, nullable=False),
    Column("in_band", Boolean),
    Column("scored_at", DateTime, nullable=False),  # naive UTC
)


@dataclass(frozen=True)
class Score:
    """One forecast scored against one realized close."""

    forecast_id: int
    kind: Kind
    run_id: str
    business_date: date
    symbol: str
    tier: str
    target_date: date
    predicted: float
    realized: float
    direction_hit: bool
    abs_pct_error: float
    in_band: bool | None


def targets_of(forecast: Mapping[str, Any], calendar: TradingCalendar) -> dict[Kind, date]:
    """The sessions whose closes score a forecast: next day and, for longer paths, horizon."""
    steps = max(1, len(forecast.get("forecast_path") or []))
    sessions = calendar.sessions_after(forecast["as_of"], steps)
    found: dict[Kind, date] = {"next_day": sessions[0]}
    if steps > 1:
        found["horizon"] = sessions[-1]
    return found


def score_forecast(
    forecast: Mapping[str, Any], kind: Kind, target_date: date, realized: float
) -> Score:
    """Score one stored forecast row against the realized close of ``target_date``."""
    current = float(forecast["current_price"])
    if kind == "next_day":
        predicted = float(forecast["predicted_price"])
        direction = forecast["direction"]
        low, high = forecast.get("p10"), forecast.get("p90")
        in_band = None if low is None or high is None else bool(low <= realized <= high)
    else:
        predicted = float(forecast["forecast_path"][-1])
        direction = direction_of(predicted - current)
        in_band = None  # the stored band is for the next close only
    return Score(
        forecast_id=int(forecast["id"]),
        kind=kind,
        run_id=forecast["run_id"],
        business_date=forecast["business_date"],
        symbol=forecast["symbol"],
        tier=forecast["tier"],
        target_date=target_date,
        predicted=predicted,
        realized=realized,
        direction_hit=direction == direction_of(realized - current),
        abs_pct_error=100.0 * abs(predicted - realized) / realized,
        in_band=in_band,
    )


class AccuracyLedger:
    """Scores in the store: which forecasts are still pending, and the scores so far."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[forecast_scores])

    def pending(self) -> list[tuple[dict, Kind]]:
        """(forecast row, kind) pairs with no score yet."""
        out = []
        with self.engine.connect() as conn:
            for kind in KINDS:
                query = (
                    select(forecasts)
                    .outerjoin(
                        forecast_scores,
                        and_(
                            forecast_scores.c.forecast_id == forecasts.c.id,
                            forecast_scores.c.kind == kind,
                        ),
                    )
                    .where(forecast_scores.c.forecast_id.is_(None))
                    .order_by(forecasts.c.id)
                )
                out.extend((dict(row._mapping), kind) for row in conn.execute(query))
        return out

    def save(self, scores: Iterable[Score]) -> int:
        """Insert new scores; one already stored (a concurrent scorer) is left as it is."""
        saved = 0
        now = utc_now().replace(tzinfo=None)
        for score in scores:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(forecast_scores).values(**asdict(score), scored_at=now))
                saved += 1
            except IntegrityError:
                continue
        return saved

    def scores(self, since: date | None = None) -> list[Score]:
        query = select(forecast_scores).order_by(forecast_scores.c.target_date)
        if since is not None:
            query = query.where(forecast_scores.c.target_date >= since)
        fields = Score.__dataclass_fields__
        with self.engine.connect() as conn:
            return [
                Score(**{k: v for k, v in row._mapping.items() if k in fields})
                for row in conn.execute(query)
            ]


async def score_pending(
    ledger: AccuracyLedger,
    market: MarketData,
    calendar: TradingCalendar,
    known_through: date | None = None,
) -> list[Score]:
    """Score every pending forecast whose target session closed by ``known_through`` (default:
    the last session whose close is final now); returns the new scores.

    Closes are fetched once per symbol for the span of its pending targets. A target whose close
    is missing (not yet published, or a data gap) stays pending for the next call.
    """
    known_through = known_through or calendar.last_closed_session(utc_now())
    wanted: dict[str, list[tuple[dict, Kind, date]]] = defaultdict(list)
    for forecast, kind in ledger.pending():
        target = targets_of(forecast, calendar).get(kind)
        if target is not None and target <= known_through:
            wanted[forecast["symbol"]].append((forecast, kind, target))
    scores: list[Score] = []
    for symbol, items in sorted(wanted.items()):
        first, last = min(t for _, _, t in items), max(t for _, _, t in items)
        try:
            closes = dict(await market.closes_between(symbol, first, last))
        except MarketDataError as exc:
            log.warning("accuracy: no closes for %s (%s)", symbol, exc)
            continue
        for forecast, kind, target in items:
            if target in closes:
                scores.append(score_forecast(forecast, kind, target, closes[target]))
    ledger.save(scores)
    return scores


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
    for window in windows:
        start = calendar.sessions_back(as_of, window)[0]
        inside = [s for s in scores if start <= s.target_date <= as_of]
        for group_by in ("symbol", "tier"):
            groups: dict[tuple[str, Kind], list[Score]] = defaultdict(list)
            for s in inside:
                groups[(getattr(s, group_by), s.kind)].append(s)
            for (group, kind), members in sorted(groups.items()):
                hit, error, band = _summarise(members)
                rows.append(
                    Summary(group_by, group, kind, window, len(members), hit, error, band)  # type: ignore[arg-type]
                )
    return as_of, rows


def accuracy_document(
    scores: list[Score], calendar: TradingCalendar, as_of: date | None = None
) -> dict:
    """The JSON the API serves and the CLI prints."""
    as_of, rows = rolling(scores, calendar, as_of)
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "windows": list(WINDOWS),
        "scored": len(scores),
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
    figure.autofmt_xdate()
    return save(figure, path, dpi=100)
