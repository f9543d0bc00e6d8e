"""The database engine: SQLite in WAL mode by default, PostgreSQL by URL.

WAL lets readers such as the results API read while the cron job writes; the busy timeout makes a
writer wait for another instead of failing at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


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


def naive_utc(moment: datetime) -> datetime:
    """A timestamp as stored: naive UTC (SQLite keeps no time zone)."""
    return moment.astimezone(UTC).replace(tzinfo=None)
