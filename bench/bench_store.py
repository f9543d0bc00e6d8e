"""Storing a 500-symbol run: PostgreSQL (ours, the first-class server store) beside SQLite.

Both stores get the same 500-symbol ``RunResult`` (the document plus 500 forecast rows in one
transaction), ``REPEATS`` times under new run ids after one untimed warm-up; the figure is the
median wall time of ``Store.save_run``, in ms. SQLite is a WAL file in a temporary folder;
PostgreSQL is a throwaway cluster on this machine (``tests/postgres.py``) with its default
durability (fsync and synchronous commit on), reached over loopback TCP. Reading the run back
(``latest_run``, document parsed into a ``RunResult``) is timed the same way.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import entry
from orchestrator.storage.migrate import upgrade
from orchestrator.storage.store import Store
from tests.postgres import start_cluster
from tests.run_documents import make_run, signal

SYMBOLS = 500
REPEATS = 7


def _median_ms(call: Callable[[int], object]) -> float:
    call(0)  # warm-up: connections, statement caches
    times = []
    for k in range(1, REPEATS + 1):
        began = time.perf_counter()
        call(k)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _timings(database_url: str) -> tuple[float, float]:
    """(save ms, read ms) medians on ``database_url``."""
    upgrade(database_url)
    signals = {f"S{k:03d}": signal(50.0 + k) for k in range(SYMBOLS)}
    store = Store(database_url)
    try:
        save = _median_ms(
            lambda k: store.save_run(
                make_run(
                    f"bench_{k}", "2022-09-21", f"2022-09-21T10:30:{k:02d}.000Z", signals=signals
                )
            )
        )
        read = _median_ms(lambda _: store.latest_run())
    finally:
        store.close()
    return save, read


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp, start_cluster(durable=True) as cluster:
        sqlite_save, sqlite_read = _timings(f"sqlite:///{Path(tmp) / 'bench.db'}")
        pg_save, pg_read = _timings(cluster.create_database())
    return {
        f"store a {SYMBOLS}-symbol run, PostgreSQL (baseline: SQLite)": entry(
            pg_save, sqlite_save, unit="ms", target="< 2000"
        ),
        f"read the latest {SYMBOLS}-symbol run, PostgreSQL (baseline: SQLite)": entry(
            pg_read, sqlite_read, unit="ms", target="< 500"
        ),
    }
