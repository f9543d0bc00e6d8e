"""The store on a real SQLite file (WAL) and a real PostgreSQL server: one transaction per run,
lookups, retention."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from run_documents import make_run

from orchestrator.documents.run import RunResult
from orchestrator.storage.store import Store


def make_doc(
    run_id: str,
    business_date: str,
    started: datetime,
    slot: str | None = "06:30",
    status: str = "ok",
) -> RunResult:
    timestamp = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return make_run(run_id, business_date, timestamp, slot=slot, status=status)


@pytest.fixture
def store(database_url: str):
    s = Store(database_url)
    yield s
    s.close()


def test_runs_round_trip_by_new_york_business_date(store: Store, tmp_path: Path) -> None:
    t = datetime(2022, 9, 21, 10, 30, tzinfo=UTC)
    store.save_run(make_doc("run_a", "2022-09-21", t))
    store.save_run(make_doc("run_b", "2022-09-21", t + timedelta(minutes=30), slot="07:00"))
    store.save_run(make_doc("run_c", "2022-09-22", t + timedelta(days=1)))
    assert store.run_for_date(date(2022, 9, 21)).run_id == "run_b"
    assert store.run_for_date(date(2022, 9, 23)) is None
    assert store.latest_run().run_id == "run_c"
    assert [d.run_id for d in store.recent_runs(2, today=date(2022, 9, 22))] == [
        "run_c",
        "run_b",
        "run_a",
    ]
    assert [d.run_id for d in store.recent_runs(1, today=date(2022, 9, 22))] == ["run_c"]
    assert store.has_run_for_slot(date(2022, 9, 21), "07:00")
    assert not store.has_run_for_slot(date(2022, 9, 21), "08:00")
    if store.engine.dialect.name == "sqlite":  # the file is in WAL mode
        with sqlite3.connect(tmp_path / "premarket.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_forecast_rows_for_accuracy_scoring(store: Store) -> None:
    run = make_doc("run_a", "2022-09-21", datetime(2022, 9, 21, 10, tzinfo=UTC))
    run.trading_signals["AAPL"].components.price_prediction.forecast_path = [101.0, 102.9]
    store.save_run(run)
    rows = store.forecasts(symbol="aapl")
    assert len(rows) == 1  # the failed symbol has no forecast row
    row = rows[0]
    assert row["run_id"] == "run_a" and row["tier"] == "tft"
    assert row["business_date"] == date(2022, 9, 21) and row["as_of"] == date(2022, 9, 20)
    assert (row["p10"], row["p50"], row["p90"]) == (98.0, 101.0, 104.0)
    assert row["forecast_path"][-1] == 102.9 and row["direction"] == "UP"
    assert store.forecasts(tier="nhits") == []
    assert store.forecasts(since=date(2022, 9, 22)) == []


def test_a_failed_write_leaves_no_partial_run(store: Store) -> None:
    t = datetime(2022, 9, 21, 10, tzinfo=UTC)
    store.save_run(make_doc("run_a", "2022-09-21", t))
    broken = make_doc("run_b", "2022-09-21", t + timedelta(hours=1))
    copied = broken.trading_signals["AAPL"].model_copy(deep=True)
    copied.components.price_prediction.direction = None  # the database refuses it
    broken.trading_signals["MSFT"] = copied
    with pytest.raises(Exception):  # noqa: B017 - the database's own integrity error
        store.save_run(broken)
    assert store.latest_run().run_id == "run_a"
    assert {r["run_id"] for r in store.forecasts()} == {"run_a"}
    # A failed run does not mark its slot as done, so it can be retried.
    store.save_run(make_doc("run_c", "2022-09-21", t, slot="08:00", status="failed"))
    assert not store.has_run_for_slot(date(2022, 9, 21), "08:00")


def test_retention_counts_from_when_a_run_was_made(store: Store) -> None:
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    store.save_run(make_doc("old", "2022-09-21", now - timedelta(days=31)))
    store.save_run(make_doc("replay", "2019-05-06", now - timedelta(days=1)))
    assert store.claim_alert(date(2022, 9, 21), "AAPL", "BUY WEAK")
    assert store.purge(30, now=now) == 1
    assert store.run_for_date(date(2022, 9, 21)) is None
    assert store.run_for_date(date(2019, 5, 6)).run_id == "replay"
    assert len(store.forecasts()) == 2  # the track record stays for accuracy tracking


def test_alert_claims_are_unique_per_date_symbol_action(store: Store) -> None:
    day = date(2022, 9, 21)
    assert store.claim_alert(day, "AAPL", "BUY STRONG")
    assert not store.claim_alert(day, "AAPL", "BUY STRONG")
    assert store.claim_alert(day, "AAPL", "SELL STRONG")
    assert store.claim_alert(day + timedelta(days=1), "AAPL", "BUY STRONG")
    store.release_alert(day, "AAPL", "BUY STRONG")
    assert store.claim_alert(day, "AAPL", "BUY STRONG")
