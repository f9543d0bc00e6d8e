"""The schema comes from the migrations, on SQLite and on a real PostgreSQL server.

The migrations at their newest revision equal ``orchestrator.storage.tables``; a SQLite file
upgrades itself when opened, a PostgreSQL database behind the code is refused with one line
naming ``premarket db upgrade``; a database made before migrations (by ``create_all``) carries
on with its data; ``premarket db current|upgrade`` report and upgrade.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from run_documents import make_run
from sqlalchemy import inspect, text

from orchestrator.cli.main import main
from orchestrator.storage.engine import make_engine
from orchestrator.storage.migrate import (
    SchemaOutOfDate,
    current_revision,
    head_revision,
    upgrade,
)
from orchestrator.storage.store import Store
from orchestrator.storage.tables import metadata


def a_run():
    return make_run("run_a", "2022-09-21", "2022-09-21T10:30:00.000Z")


def test_the_newest_revision_is_exactly_the_tables_module(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        assert current_revision(engine) == head_revision()
        assert "alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_new_sqlite_file_upgrades_itself_when_opened(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new' / 'premarket.db'}")
    try:
        assert current_revision(store.engine) == head_revision()
        store.save_run(a_run())
        assert store.latest_run().run_id == "run_a"
    finally:
        store.close()


@pytest.fixture
def empty_postgres(postgres_cluster) -> str:
    return postgres_cluster.create_database()


def test_postgres_behind_the_code_is_refused_naming_the_upgrade_command(
    empty_postgres: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SchemaOutOfDate, match=r"no revision.*run `premarket db upgrade`"):
        Store(empty_postgres)
    assert upgrade(empty_postgres, "0001") == (None, "0001")
    with pytest.raises(SchemaOutOfDate, match=r"at 0001, this premarket needs .*db upgrade"):
        Store(empty_postgres)

    monkeypatch.setenv("PREMARKET_DATABASE_URL", empty_postgres)
    assert main(["accuracy"]) == 1  # any command that opens the store: one line, exit 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "run `premarket db upgrade`" in err
    head = head_revision()
    assert main(["db", "current"]) == 0
    assert f"0001; newest is {head}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"0001 -> {head}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"already at {head}" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{head} (newest)")
    Store(empty_postgres).close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_made_before_migrations_keeps_its_runs(backend, tmp_path, request) -> None:
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_cluster").create_database()
    )
    upgrade(url, "0001")  # the tables premarket made with create_all before migrations...
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # ...which recorded no revision
    engine.dispose()
    if backend == "postgresql":
        with pytest.raises(SchemaOutOfDate):
            Store(url)
        upgrade(url)
    store = Store(url)  # SQLite: upgraded on open
    try:
        store.save_run(a_run())
        assert current_revision(store.engine) == head_revision()
        assert store.latest_run().run_id == "run_a" and len(store.forecasts()) == 1
    finally:
        store.close()


def test_a_schema_newer_than_the_code_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaOutOfDate, match="9999 is newer than this premarket"):
        Store(database_url)
