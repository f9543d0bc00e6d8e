"""Concurrent use of the store, on SQLite and on a real PostgreSQL server.

Real processes where the issue is between processes (first runs on an empty database, a writer
killed mid-write), real threads with their own stores where it is between connections (runs
written while the results API answers readers over HTTP).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from run_documents import make_run
from run_documents import signal as symbol_signal
from sqlalchemy import func, select
from test_api import make_settings, serving

from orchestrator.api.app import create_app
from orchestrator.storage.store import Store
from orchestrator.storage.tables import forecasts, runs

ROOT = Path(__file__).resolve().parents[1]
STAMP = "2022-09-21T10:30:00.000Z"
NEXT_DAY = datetime(2022, 9, 22, 12, tzinfo=UTC)

CHILD = r"""
import sys, time
from run_documents import make_run, signal
from orchestrator.storage.migrate import upgrade
from orchestrator.storage.store import Store

mode, url, run_id = sys.argv[1:4]
print("READY", flush=True)
sys.stdin.readline()  # all children start together
if url.startswith("postgresql"):
    upgrade(url)  # `premarket db upgrade`, as an operator runs it before the first run
store = Store(url)
if mode == "kill":
    store.save_run(make_run(run_id, "2022-09-21", "2022-09-21T10:30:00.000Z"))
    print("COMMITTED", flush=True)
    from sqlalchemy import Engine, event

    @event.listens_for(Engine, "before_cursor_execute")
    def _pause(conn, cursor, statement, *args):  # inside the write: run row sent, not its forecasts
        if statement.lstrip().upper().startswith("INSERT INTO FORECASTS"):
            print("WRITING", flush=True)
            time.sleep(120)

    signals = {f"S{k:03d}": signal(100.0 + k) for k in range(300)}
    store.save_run(make_run(run_id + "_big", "2022-09-22", "2022-09-22T10:30:00.000Z", signals=signals))
else:
    store.save_run(make_run(run_id, "2022-09-21", "2022-09-21T10:30:00.000Z"))
print("DONE", flush=True)
"""


def children(mode: str, url: str, run_ids: list[str]) -> list[subprocess.Popen[str]]:
    """Child processes, started together once all have imported the package."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, url, run_id],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id in run_ids
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()[-2000:]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return procs


@pytest.fixture
def empty_database_url(request, tmp_path) -> str:
    """No schema at all: a SQLite path with no file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'premarket.db'}"
    return request.getfixturevalue("postgres_cluster").create_database()


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_three_parallel_first_runs_on_an_empty_database_are_all_stored(empty_database_url):
    ids = ["first_a", "first_b", "first_c"]
    for proc in children("run", empty_database_url, ids):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip().endswith("DONE"), err[-2000:]
    store = Store(empty_database_url)
    try:
        stored = store.recent_runs(7, today=make_run("x", "2022-09-21", STAMP).business_date)
        assert sorted(r.run_id for r in stored) == ids
        assert len(store.forecasts()) == 3
    finally:
        store.close()


def test_four_runs_with_eight_api_readers_all_stored_no_errors(database_url, tmp_path) -> None:
    settings = make_settings(tmp_path, database_url=database_url)
    reading, errors, answers = threading.Event(), [], []
    app_store = Store(database_url)

    def writer(k: int) -> None:
        store = Store(database_url)
        try:
            signals = {f"S{j:02d}": symbol_signal(50.0 + j) for j in range(20)}
            store.save_run(
                make_run(f"run_{k}", "2022-09-21", f"2022-09-21T10:3{k}:00.000Z", signals=signals)
            )
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            store.close()

    def reader(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                last_round = not reading.is_set()
                for path in ("/results/latest", "/results/recent?days=7", "/health"):
                    try:
                        answers.append(client.get(path).status_code)
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc))
                if last_round:
                    return

    try:
        with serving(create_app(settings, store=app_store, clock=lambda: NEXT_DAY)) as base:
            reading.set()
            readers = [threading.Thread(target=reader, args=(base,)) for _ in range(8)]
            writers = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
            for t in readers + writers:
                t.start()
            for t in writers:
                t.join(120)
            reading.clear()  # each reader makes one more round, after every write
            for t in readers:
                t.join(120)
            final = httpx.get(f"{base}/results/recent?days=7", timeout=30).json()
    finally:
        app_store.close()
    assert errors == []
    assert answers and set(answers) <= {200, 404}, sorted(set(answers))
    assert sorted(r["run_id"] for r in final["runs"]) == [f"run_{k}" for k in range(4)]


def test_sigkill_during_a_write_on_postgres_leaves_earlier_runs_intact(postgres_cluster) -> None:
    url = postgres_cluster.create_database()
    (proc,) = children("kill", url, ["before_kill"])
    assert proc.stdout.readline().strip() == "COMMITTED", proc.stderr.read()[-2000:]
    assert proc.stdout.readline().strip() == "WRITING", proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    store = Store(url)
    try:
        with store.engine.connect() as conn:
            assert list(conn.execute(select(runs.c.run_id)).scalars()) == ["before_kill"]
            per_run = dict(
                conn.execute(select(forecasts.c.run_id, func.count()).group_by(forecasts.c.run_id))
                .tuples()
                .all()
            )
        assert per_run == {"before_kill": 1}  # whole, and nothing of the killed write
        # The killed transaction holds nothing: the same run can be written again at once.
        signals = {f"S{k:03d}": symbol_signal(100.0 + k) for k in range(300)}
        store.save_run(make_run("before_kill_big", "2022-09-22", STAMP, signals=signals))
        assert len(store.forecasts(since=make_run("x", "2022-09-22", STAMP).business_date)) == 300
    finally:
        store.close()
