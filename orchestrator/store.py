"""Runs, per-symbol forecasts and sent alerts, through SQLAlchemy Core.

SQLite in WAL mode by default (readers such as the results API never block the cron job's
writer); a PostgreSQL URL in ``database_url`` works the same. A run and its forecasts are written
in one transaction, so a crash mid-write leaves the previous runs intact and no half run.
Runs are keyed by run id and New York business date. Other modules add their tables to
``metadata`` (import them before creating a ``Store``).

Retention: ``purge`` removes run documents and alert records older than the retention; the
per-symbol forecast rows are kept, because accuracy tracking scores them against closes weeks
and months later.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from orchestrator.clock import new_york_date, utc_now

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("business_date", Date, nullable=False, index=True),
    Column("slot", String(16)),
    Column("started_at", DateTime, nullable=False, index=True),  # naive UTC
    Column("status", String(16), nullable=False),
    Column("as_of", Date),
    Column("document", JSON, nullable=False),
)

forecasts = Table(
    "forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(80), nullable=False, index=True),
    Column("business_date", Date, nullable=False, index=True),
    Column("as_of", Date, nullable=False, doc="Date of the last close the forecast saw."),
    Column("symbol", String(16), nullable=False, index=True),
    Column("tier", String(16), nullable=False),
    Column("model_used", String(40), nullable=False),
    Column("current_price", Float, nullable=False),
    Column("predicted_price", Float, nullable=False),
    Column("p10", Float),
    Column("p50", Float),
    Column("p90", Float),
    Column("forecast_path", JSON, nullable=False, doc="Closes of the next sessions after as_of."),
    Column("direction", String(8), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("action", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),  # naive UTC
)

alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("action", String(32), primary_key=True),
    Column("sent_at", DateTime, nullable=False),
)


def make_engine(database_url: str) -> Engine:
    """An engine; SQLite files get WAL, a busy timeout and their parent directory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class Store:
    """The orchestrator's database."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- runs -------------------------------------------------------------------------------

    def save_run(self, doc: dict) -> None:
        """Store a result document of ``run_analysis`` and its forecasts in one transaction."""
        started = datetime.fromisoformat(doc["timestamp"].replace("Z", "+00:00"))
        business_date = date.fromisoformat(doc["business_date"])
        rows = [
            _forecast_row(doc, symbol, signal, business_date, started)
            for symbol, signal in doc["trading_signals"].items()
            if signal.get("success")
        ]
        with self.engine.begin() as conn:
            conn.execute(
                insert(runs).values(
                    run_id=doc["run_id"],
                    business_date=business_date,
                    slot=doc.get("slot"),
                    started_at=_naive_utc(started),
                    status=doc["status"],
                    as_of=date.fromisoformat(doc["as_of"]) if doc.get("as_of") else None,
                    document=doc,
                )
            )
            if rows:
                conn.execute(insert(forecasts), rows)

    def run_for_date(self, business_date: date) -> dict | None:
        """The latest run of a New York business date."""
        query = (
            select(runs.c.document)
            .where(runs.c.business_date == business_date)
            .order_by(runs.c.started_at.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def latest_run(self) -> dict | None:
        query = select(runs.c.document).order_by(runs.c.started_at.desc()).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def recent_runs(self, days: int, today: date | None = None) -> list[dict]:
        """Runs of the last ``days`` New York business dates up to ``today``, newest first."""
        today = today or new_york_date(utc_now())
        query = (
            select(runs.c.document)
            .where(runs.c.business_date > today - timedelta(days=days))
            .where(runs.c.business_date <= today)
            .order_by(runs.c.started_at.desc())
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

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
        cutoff = _naive_utc(now or utc_now()) - timedelta(days=retention_days)
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
                        sent_at=_naive_utc(utc_now()),
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


def _forecast_row(
    doc: dict, symbol: str, signal: dict, business_date: date, started: datetime
) -> dict:
    price = signal["components"]["price_prediction"]
    quantiles = price.get("quantiles") or {}
    return {
        "run_id": doc["run_id"],
        "business_date": business_date,
        "as_of": date.fromisoformat(signal["data_as_of"]),
        "symbol": symbol,
        "tier": price["tier"],
        "model_used": price["model_used"],
        "current_price": signal["current_price"],
        "predicted_price": price["predicted_price"],
        "p10": quantiles.get("p10"),
        "p50": quantiles.get("p50"),
        "p90": quantiles.get("p90"),
        "forecast_path": price["forecast_path"],
        "direction": price["direction"],
        "confidence": price["confidence"],
        "action": signal["action"],
        "created_at": _naive_utc(started),
    }
