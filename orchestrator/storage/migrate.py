"""Schema migrations (alembic, ``orchestrator/storage/migrations``) for SQLite and PostgreSQL.

The migrations ship inside the package and run through alembic's API on a connection opened
here, so ``premarket db upgrade`` works from an installed wheel with no ``alembic.ini``.

On start (``Store``), the schema must be at the newest revision:

- a SQLite file is upgraded in place. It belongs to this app alone and is made on first use, so
  a new user's first ``premarket analyze`` just works, and nothing else reads it;
- a PostgreSQL database is shared and run by its owner, who may keep DDL rights away from the
  app: an out-of-date schema is refused with one line naming ``premarket db upgrade``.

Concurrent upgrades take turns: SQLite under its write lock (``BEGIN IMMEDIATE``), PostgreSQL
under a transaction-scoped advisory lock; the loser then finds the schema current. DDL is
transactional on both, so an upgrade killed midway leaves the previous revision.
"""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from orchestrator.storage.engine import make_engine

SCRIPT_LOCATION = "orchestrator.storage:migrations"
UPGRADE_COMMAND = "premarket db upgrade"
ADVISORY_LOCK = 0x70726D6B  # "prmk": one key for every premarket schema upgrade


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the revision this code needs; the message says what to run."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision the migrations of this install know."""
    return _scripts().get_current_head() or ""


def _known(revision: str) -> bool:
    return any(script.revision == revision for script in _scripts().walk_revisions())


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for a database no premarket has upgraded."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database: str | Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade ``database`` (a URL or an engine) to ``revision``; (before, after) revisions."""
    engine = make_engine(database) if isinstance(database, str) else database
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(_config(conn), revision)
            after = MigrationContext.configure(conn).get_current_revision()
            conn.commit()
    finally:
        if isinstance(database, str):
            engine.dispose()
    return before, after


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaOutOfDate`` unless the database is at the newest revision."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is not None and not _known(current):
        raise SchemaOutOfDate(
            f"database schema {current} is newer than this premarket ({head}): upgrade premarket"
        )
    raise SchemaOutOfDate(
        f"database schema is at {current or 'no revision'}, this premarket needs {head}: "
        f"run `{UPGRADE_COMMAND}`"
    )


def ensure_schema(engine: Engine) -> None:
    """Upgrade a SQLite file that is behind; refuse any other out-of-date database."""
    if engine.dialect.name == "sqlite":
        current = current_revision(engine)
        if current != head_revision() and (current is None or _known(current)):
            upgrade(engine)
    check_schema(engine)
