"""Accuracy tracking: stored forecasts scored against the closes that came true.

One forecast counts per (symbol, business date, tier): the last run before that session's open
(a morning has up to six slots; scoring each would count the same call six times). Live runs
and replays are scored apart (``mode``); figures use live runs unless asked for replays.

A forecast saw closes up to its ``as_of`` date. It is scored once per horizon, each once its
target close is known: ``next_day`` against the first NYSE session after ``as_of`` (predicted
price, stored direction, and whether the close fell inside the p10-p90 band), ``horizon``
against the last session of its forecast path (5 sessions), and ``seven_day`` against the last
session within 7 calendar days (the original's horizon) when the path reaches it. A calibrated
signal's probability is scored too (``session``): against its business date's open-to-close
move, the one target the signal, its fit, the backtest and paper fills share
(``premarket.target``), once per (symbol, business date, mode) whichever tier fed it. A score
records the direction hit, the absolute percentage error and the band hit; scores are kept in
the store, so each forecast is scored once and survives the purge of old run documents.
The original compared predictions with later closes too, but never on a fixed rule; its
claimed 58-70% direction accuracy was never measured this way.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Engine,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from orchestrator.common.clock import utc_now
from orchestrator.data.calendar import TradingCalendar
from orchestrator.data.market import MarketData, MarketDataError
from orchestrator.storage.tables import forecast_scores, forecasts
from orchestrator.tracking.books import claim
from premarket.protocol import direction_of
from premarket.target import moved_up

log = logging.getLogger(__name__)

Kind = Literal["next_day", "horizon", "seven_day", "session"]
KINDS: tuple[Kind, ...] = ("next_day", "horizon", "seven_day", "session")
Mode = Literal["live", "replay"]


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
    mode: Mode = "live"


def targets_of(
    forecast: Mapping[str, Any], calendar: TradingCalendar
) -> dict[Kind, tuple[date, int]]:
    """Each horizon's target session and how many sessions ahead of ``as_of`` it is: the next
    one, the path's last one, and the last one within 7 calendar days."""
    steps = max(1, len(forecast.get("forecast_path") or []))
    sessions = calendar.sessions_after(forecast["as_of"], steps)
    found: dict[Kind, tuple[date, int]] = {"next_day": (sessions[0], 1)}
    if steps > 1:
        found["horizon"] = (sessions[-1], steps)
    within = [d for d in sessions if d <= forecast["as_of"] + timedelta(days=7)]
    if within:
        found["seven_day"] = (within[-1], len(within))
    if forecast.get("probability_up") is not None:  # the calibrated signal: its own session
        found["session"] = (forecast["business_date"], 0)
    return found


def counted(rows: Iterable[Mapping[str, Any]], calendar: TradingCalendar) -> list[Mapping]:
    """One forecast per (symbol, business date, tier, mode): the last made before the session
    opened (live), or the last made (replays, which are made long after). A row whose business
    date is not a session (a weekend run stored before the pre-market rule) is skipped with a
    warning: it has nothing to be scored against, and must not stop the others."""
    chosen: dict[tuple, Mapping[str, Any]] = {}
    for row in rows:
        if not calendar.is_session(row["business_date"]):  # stored before the pre-market rule
            log.warning(
                "accuracy: %s %s skipped: %s is not a session",
                row["symbol"],
                row.get("run_id", row["id"]),
                row["business_date"],
            )
            continue
        made = row["created_at"].replace(tzinfo=UTC)  # stored naive UTC
        if row["mode"] == "live" and not calendar.made_before_open(row["business_date"], made):
            continue  # made after the open: not a pre-market forecast
        key = (row["symbol"], row["business_date"], row["tier"], row["mode"])
        best = chosen.get(key)
        if best is None or (row["created_at"], row["id"]) > (best["created_at"], best["id"]):
            chosen[key] = row
    return sorted(chosen.values(), key=lambda r: r["id"])


def score_forecast(
    forecast: Mapping[str, Any],
    kind: Kind,
    target: tuple[date, int],
    realized: float,
    opened: float | None = None,
) -> Score:
    """Score one stored forecast row against the realized close of its ``target`` session
    (and, for the signal's ``session`` kind, that session's open)."""
    target_date, ahead = target
    current = float(forecast["current_price"])
    if kind == "session":
        return _score_signal(forecast, target_date, opened, realized)
    if kind == "next_day":
        predicted = float(forecast["predicted_price"])
        direction = forecast["direction"]
        low, high = forecast.get("p10"), forecast.get("p90")
        in_band = None if low is None or high is None else bool(low <= realized <= high)
    else:
        predicted = float(forecast["forecast_path"][ahead - 1])
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
        mode=forecast.get("mode", "live"),
    )


def _score_signal(
    forecast: Mapping[str, Any], day: date, opened: float | None, closed: float
) -> Score:
    """The signal's P(session up) against its session, open to close (``premarket.target``):
    ``predicted`` is the probability, ``realized`` 1 or 0, ``direction_hit`` whether the more
    likely side happened, ``abs_pct_error`` |probability - outcome| in points."""
    if opened is None:
        raise ValueError("session: the open of the business date is needed")
    probability = float(forecast["probability_up"])
    outcome = float(moved_up(opened, closed))
    return Score(
        forecast_id=int(forecast["id"]),
        kind="session",
        run_id=forecast["run_id"],
        business_date=forecast["business_date"],
        symbol=forecast["symbol"],
        tier=forecast["tier"],
        target_date=day,
        predicted=probability,
        realized=outcome,
        direction_hit=(probability >= 0.5) == (outcome == 1.0),
        abs_pct_error=100.0 * abs(probability - outcome),
        in_band=None,
        mode=forecast.get("mode", "live"),
    )


class AccuracyLedger:
    """Scores in the store: which forecasts are still pending, and the scores so far."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def pending(
        self, calendar: TradingCalendar, modes: tuple[Mode, ...] = ("live",)
    ) -> list[tuple[dict, Kind]]:
        """(forecast row, kind) pairs still to score: counted forecasts (see ``counted``) of
        the given modes without a score of that kind."""
        with self.engine.connect() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(select(forecasts).where(forecasts.c.mode.in_(modes)))
            ]
            done = set(conn.execute(select(forecast_scores.c.forecast_id, forecast_scores.c.kind)))
        chosen = counted(rows, calendar)
        # The signal is one per symbol and morning, whichever tier fed it: its session score
        # counts once per (symbol, business date, mode), the last counted run's.
        signal_of: dict[tuple, dict] = {}
        for row in chosen:
            key = (row["symbol"], row["business_date"], row["mode"])
            if key not in signal_of or (row["created_at"], row["id"]) > (
                signal_of[key]["created_at"],
                signal_of[key]["id"],
            ):
                signal_of[key] = row
        signals = {row["id"] for row in signal_of.values()}
        scored_signal = {
            (row["symbol"], row["business_date"], row["mode"])
            for row in chosen
            if (row["id"], "session") in done
        }
        return [
            (row, kind)
            for row in chosen
            for kind in KINDS
            if (row["id"], kind) not in done
            and (
                kind != "session"
                or (
                    row["id"] in signals
                    and (row["symbol"], row["business_date"], row["mode"]) not in scored_signal
                )
            )
        ]

    def claim_source(self, modes: tuple[Mode, ...], source: str) -> None:
        """Each mode's scores come from one source of bars (``tracking.books``)."""
        with self.engine.begin() as conn:
            for mode in modes:
                started = conn.execute(
                    select(forecast_scores.c.forecast_id).where(forecast_scores.c.mode == mode)
                ).first()
                claim(conn, f"accuracy:{mode}", mode, source, started=started is not None)

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

    def scores(self, since: date | None = None, modes: tuple[Mode, ...] = ("live",)) -> list[Score]:
        query = (
            select(forecast_scores)
            .where(forecast_scores.c.mode.in_(modes))
            .order_by(forecast_scores.c.target_date)
        )
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
    modes: tuple[Mode, ...] = ("live",),
) -> list[Score]:
    """Score every pending forecast whose target session closed by ``known_through`` (default:
    the last session whose close is final now); returns the new scores.

    Bars are fetched once per symbol for the span of its pending targets. A target whose bar is
    missing (not yet published, or a data gap) stays pending for the next call.
    """
    known_through = known_through or calendar.last_closed_session(utc_now())
    ledger.claim_source(modes, market.source)
    wanted: dict[str, list[tuple[dict, Kind, tuple[date, int]]]] = defaultdict(list)
    for forecast, kind in ledger.pending(calendar, modes):
        target = targets_of(forecast, calendar).get(kind)
        if target is not None and target[0] <= known_through:
            wanted[forecast["symbol"]].append((forecast, kind, target))
    scores: list[Score] = []
    for symbol, items in sorted(wanted.items()):
        first, last = min(t[0] for _, _, t in items), max(t[0] for _, _, t in items)
        try:
            bars = {day: (o, c) for day, o, c in await market.bars_between(symbol, first, last)}
        except MarketDataError as exc:
            log.warning("accuracy: no bars for %s (%s)", symbol, exc)
            continue
        for forecast, kind, target in items:
            if target[0] in bars:
                opened, closed = bars[target[0]]
                scores.append(score_forecast(forecast, kind, target, closed, opened))
    ledger.save(scores)
    return scores
