"""The run repository: runs, their per-symbol forecasts and sent alerts, through SQLAlchemy Core.

A run and its forecasts are written in one transaction, so a crash mid-write leaves the previous
runs intact and no half run. Runs are keyed by run id and New York business date; documents go in
and come out as typed ``RunResult``s.

Retention: ``purge`` removes run documents and alert records older than the retention; the
per-symbol forecast rows are kept, because accuracy tracking scores them against closes weeks
and months later.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import case, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.common.clock import new_york_date, utc_now
from orchestrator.documents.run import RunResult, SymbolSignal
from orchestrator.storage.engine import make_engine, naive_utc
from orchestrator.storage.migrate import ensure_schema
from orchestrator.storage.slots import SlotClaims
from orchestrator.storage.tables import alerts_sent, forecasts, runs

_COMPLETE_FIRST = case((runs.c.status == "ok", 0), (runs.c.status == "partial", 1), else_=2)
"""Order of a date's runs: complete before partial before failed."""


class Store:
    """The orchestrator's database, at the newest schema (``orchestrator.storage.migrate``:
    a SQLite file is upgraded in place, any other database refused until upgraded)."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        try:
            ensure_schema(self.engine)
        except Exception:
            self.engine.dispose()
            raise
        self.slot_claims = SlotClaims(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- runs -------------------------------------------------------------------------------

    def save_run(self, result: RunResult) -> None:
        """Store a run and its forecasts in one transaction."""
        started = result.started_at
        rows = [
            _forecast_row(result, symbol, signal, started)
            for symbol, signal in result.signals.items()
        ]
        with self.engine.begin() as conn:
            conn.execute(
                insert(runs).values(
                    run_id=result.run_id,
                    business_date=result.business_date,
                    slot=result.slot,
                    started_at=naive_utc(started),
                    status=result.status,
                    as_of=result.as_of,
                    document=result.to_document(),
                    mode=result.mode,
                )
            )
            if rows:
                conn.execute(insert(forecasts), rows)

    def update_run(self, result: RunResult) -> None:
        """Rewrite a stored run's document and status (its alert records come after it is
        stored: ``jobs.analysis``)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == result.run_id)
                .values(status=result.status, document=result.to_document())
            )

    def mode_shown(self, replays: bool | None = None) -> str:
        """Which runs "latest" and "recent" mean: replays when asked (``replays=True``), live
        runs when told so (False); by default live runs, or replays in a store holding none
        (a demo or backtest database), so a replay never hides a live morning."""
        if replays is not None:
            return "replay" if replays else "live"
        with self.engine.connect() as conn:
            live = conn.execute(select(exists().where(runs.c.mode == "live"))).scalar()
        return "live" if live else "replay"

    def run_for_date(self, business_date: date, replays: bool | None = None) -> RunResult | None:
        """The best run of a New York business date: complete before partial before failed,
        then the latest started (of the mode ``mode_shown`` picks)."""
        query = (
            select(runs.c.document)
            .where(runs.c.business_date == business_date)
            .where(runs.c.mode == self.mode_shown(replays))
            .order_by(_COMPLETE_FIRST, runs.c.started_at.desc())
            .limit(1)
        )
        return self._one(query)

    def latest_run(self, replays: bool | None = None) -> RunResult | None:
        """The best run of the newest business date, as ``run_for_date`` picks it (of the mode
        ``mode_shown`` picks): a failed 07:00 run never hides a complete 06:30 one."""
        query = (
            select(runs.c.document)
            .where(runs.c.mode == self.mode_shown(replays))
            .order_by(runs.c.business_date.desc(), _COMPLETE_FIRST, runs.c.started_at.desc())
            .limit(1)
        )
        return self._one(query)

    def _one(self, query) -> RunResult | None:
        with self.engine.connect() as conn:
            document = conn.execute(query).scalar()
        return None if document is None else RunResult.model_validate(document)

    def recent_runs(
        self, days: int, today: date | None = None, replays: bool | None = None
    ) -> list[RunResult]:
        """Runs of the last ``days`` New York business dates up to ``today``, newest first (of
        the mode ``mode_shown`` picks)."""
        today = today or new_york_date(utc_now())
        query = (
            select(runs.c.document)
            .where(runs.c.business_date > today - timedelta(days=days))
            .where(runs.c.business_date <= today)
            .where(runs.c.mode == self.mode_shown(replays))
            .order_by(runs.c.started_at.desc())
        )
        with self.engine.connect() as conn:
            documents = list(conn.execute(query).scalars())
        return [RunResult.model_validate(d) for d in documents]

    def has_run_for_slot(self, business_date: date, slot: str) -> bool:
        """Whether a slot already ran (a failed run does not count, so it can be retried)."""
        query = (
            select(runs.c.run_id)
            .where(runs.c.business_date == business_date, runs.c.slot == slot)
            .where(runs.c.status != "failed")
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def purge(self, retention_days: int, now: datetime | None = None) -> int:
        """Delete runs made, and alert records written, more than ``retention_days`` ago.

        Age counts from when a run was made, not its business date, so a replay of a past
        date (``--as-of``) is kept as long as a live run. Returns the number of runs deleted.
        """
        cutoff = naive_utc(now or utc_now()) - timedelta(days=retention_days)
        with self.engine.begin() as conn:
            conn.execute(delete(alerts_sent).where(alerts_sent.c.sent_at < cutoff))
            return conn.execute(delete(runs).where(runs.c.started_at < cutoff)).rowcount

    # --- forecasts --------------------------------------------------------------------------

    def forecasts(
        self,
        *,
        symbol: str | None = None,
        tier: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[dict]:
        """Stored per-symbol forecasts (filters on business date), oldest first."""
        query = select(forecasts).order_by(forecasts.c.business_date, forecasts.c.id)
        if symbol:
            query = query.where(forecasts.c.symbol == symbol.upper())
        if tier:
            query = query.where(forecasts.c.tier == tier)
        if since:
            query = query.where(forecasts.c.business_date >= since)
        if until:
            query = query.where(forecasts.c.business_date <= until)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # --- alert de-duplication ---------------------------------------------------------------

    def claim_alert(self, business_date: date, symbol: str, action: str) -> bool:
        """Record an alert about to be sent; False when it was already sent that date."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(alerts_sent).values(
                        business_date=business_date,
                        symbol=symbol,
                        action=action,
                        sent_at=naive_utc(utc_now()),
                    )
                )
        except IntegrityError:
            return False
        return True

    def release_alert(self, business_date: date, symbol: str, action: str) -> None:
        """Forget a claimed alert that no channel delivered, so a later run tries again."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(alerts_sent).where(
                    alerts_sent.c.business_date == business_date,
                    alerts_sent.c.symbol == symbol,
                    alerts_sent.c.action == action,
                )
            )


def _forecast_row(result: RunResult, symbol: str, signal: SymbolSignal, started: datetime) -> dict:
    price = signal.price
    quantiles = price.quantiles or {}
    return {
        "run_id": result.run_id,
        "business_date": result.business_date,
        "as_of": signal.data_as_of,
        "symbol": symbol,
        "tier": price.tier,
        "model_used": price.model_used,
        "current_price": signal.current_price,
        "predicted_price": price.predicted_price,
        "p10": quantiles.get("p10"),
        "p50": quantiles.get("p50"),
        "p90": quantiles.get("p90"),
        "forecast_path": price.forecast_path,
        "direction": price.direction,
        "confidence": price.confidence,
        "action": signal.action,
        "created_at": naive_utc(started),
        "mode": result.mode,
        "probability_up": signal.probability_up,
    }
