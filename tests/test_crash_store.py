"""A run killed (SIGKILL) in the middle of being written leaves the store consistent.

Real processes and a real SQLite file (WAL): a child process runs ``run_analysis`` (offline, the
model services unreachable, so the statistical tier answers) or writes large runs in a loop, and
is killed mid-write: once at a known point inside the write transaction, then after a random
number of commits, while the next large write is under way.
After each kill the database passes ``PRAGMA integrity_check``, every run it holds is whole
(its document and one forecast row per analysed symbol), every run the child saw committed is
still there, and the killed slot can be run again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from orchestrator_stubs import DEAD_URL

from orchestrator.storage.store import Store
from premarket.data import DEMO_AS_OF

ROOT = Path(__file__).resolve().parents[1]
BUSINESS_DATE = date(2022, 9, 21)  # the session after DEMO_AS_OF
SYMBOLS = ["AAPL", "MSFT", "TSLA"]

CHILD = r"""
import asyncio, json, sys, time
from datetime import date

mode, slot = sys.argv[1], sys.argv[2]
if mode == "loop":  # large runs back to back, each a copy of a template with many symbols
    from orchestrator.documents.run import RunResult
    from orchestrator.storage.store import Store
    import os
    template = json.loads(open(sys.argv[3]).read())
    signal = next(s for s in template["trading_signals"].values() if s.get("success"))
    store = Store(os.environ["PREMARKET_DATABASE_URL"])
    n = 0
    while True:
        n += 1
        doc = dict(template, run_id=f"loop_{os.getpid()}_{n}", slot=slot)
        doc["trading_signals"] = {f"S{k:04d}": signal for k in range(3000)}
        store.save_run(RunResult.model_validate(doc))
        print("COMMITTED", doc["run_id"], flush=True)

from sqlalchemy import Engine, event

if mode == "pause":  # stop inside the write: the run row is sent, its forecasts are not
    @event.listens_for(Engine, "before_cursor_execute")
    def _pause(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO FORECASTS"):
            print("WRITING", flush=True)
            time.sleep(120)

from orchestrator.jobs.analysis import run_analysis
from premarket.settings import load_settings

doc = asyncio.run(run_analysis(
    load_settings(), symbols=sys.argv[4].split(","), as_of=date.fromisoformat(sys.argv[3]),
    offline=True, slot=slot,
))
print("DONE", doc.run_id, doc.status, flush=True)
"""


def child_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PREMARKET_CONFIG": "",
        "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.db'}",
        "PREMARKET_STATE_DIR": str(tmp_path / "state"),
        "PREMARKET_TFT__URL": DEAD_URL,
        "PREMARKET_NHITS__URL": DEAD_URL,
        "PREMARKET_SENTIMENT__URL": DEAD_URL,
        "PREMARKET_CHAIN__RETRIES": "0",
    }


def spawn(tmp_path: Path, mode: str, slot: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, slot, *extra],
        cwd=tmp_path,
        env=child_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_slot(tmp_path: Path, slot: str, mode: str = "run") -> str:
    """Run one analysis of ``slot`` to the end; its run id."""
    proc = spawn(tmp_path, mode, slot, DEMO_AS_OF, ",".join(SYMBOLS))
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-2000:]
    word, run_id, status = out.split()[-3:]
    assert word == "DONE" and status == "ok", out
    return run_id


def check_consistent(db: Path) -> dict[str, dict]:
    """Integrity, and every stored run whole; the runs by id."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        runs = {
            rid: json.loads(doc) for rid, doc in conn.execute("SELECT run_id, document FROM runs")
        }
        counts = dict(conn.execute("SELECT run_id, COUNT(*) FROM forecasts GROUP BY run_id"))
    assert set(counts) <= set(runs), "forecast rows of a run that was not stored"
    for run_id, doc in runs.items():
        assert doc["run_id"] == run_id
        analysed = sum(1 for s in doc["trading_signals"].values() if s.get("success"))
        assert counts.get(run_id, 0) == analysed, f"{run_id}: half written"
    return runs


def kill(proc: subprocess.Popen[str]) -> str:
    """SIGKILL the child; the rest of what it printed before it died (read through the same
    buffered pipe as any earlier ``readline``, so no line read ahead is lost)."""
    proc.send_signal(signal.SIGKILL)
    out = proc.stdout.read()
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return out


def committed_ids(printed: str) -> set[str]:
    """Run ids of whole ``COMMITTED <id>`` lines; a line the kill cut short names no run (that
    run, if stored, is the one allowed unseen commit)."""
    return {
        parts[1]
        for line in printed.splitlines(keepends=True)
        if line.endswith("\n") and len(parts := line.split()) == 2 and parts[0] == "COMMITTED"
    }


@pytest.mark.slow
def test_a_run_killed_inside_its_write_leaves_no_half_run_and_the_slot_reruns(tmp_path):
    db = tmp_path / "runs.db"
    first = run_slot(tmp_path, "06:30")

    proc = spawn(tmp_path, "pause", "07:00", DEMO_AS_OF, ",".join(SYMBOLS))
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the child is inside the transaction
    assert line.strip() == "WRITING", (line, proc.stderr and proc.stderr.read()[-2000:])
    kill(proc)

    runs = check_consistent(db)
    assert list(runs) == [first] and runs[first]["slot"] == "06:30"  # intact, no half run
    store = Store(f"sqlite:///{db}")
    try:
        assert store.has_run_for_slot(BUSINESS_DATE, "06:30")
        assert not store.has_run_for_slot(BUSINESS_DATE, "07:00")  # so the slot is retried
    finally:
        store.close()

    again = run_slot(tmp_path, "07:00")
    runs = check_consistent(db)
    assert set(runs) == {first, again}
    assert runs[again]["performance_metrics"]["tier_counts"]["statistical"] == len(SYMBOLS)
    store = Store(f"sqlite:///{db}")
    try:
        assert store.run_for_date(BUSINESS_DATE).run_id == again
        assert len(store.forecasts(symbol="AAPL")) == 2
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.scenario
def test_kills_at_random_times_never_lose_a_committed_run(tmp_path):
    db = tmp_path / "runs.db"
    first = run_slot(tmp_path, "06:30")
    template = tmp_path / "template.json"
    template.write_text(json.dumps(check_consistent(db)[first]))

    rng = random.Random(20220921)
    committed: set[str] = {first}
    kills_mid_loop = 0
    for i in range(5):
        proc = spawn(tmp_path, "loop", f"loop{i}", str(template))
        # Kill right after a random number of commits (a condition, not a duration: a loaded
        # machine may take seconds for the first), while the next large write is under way.
        printed, wanted = "", rng.randint(1, 3)
        while printed.count("COMMITTED ") < wanted:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()[-2000:]
            printed += line
        printed += kill(proc)
        done = committed_ids(printed)
        kills_mid_loop += bool(done)
        committed |= done
        runs = check_consistent(db)
        assert committed <= set(runs), "a run the writer saw committed was lost"
        # At most the one run whose commit ended just before the kill, not yet printed.
        unseen = set(runs) - committed
        assert len(unseen) <= 1 and all(r.startswith(f"loop_{proc.pid}_") for r in unseen)
        committed |= unseen
    assert kills_mid_loop >= 1  # at least one kill landed between/inside large writes

    again = run_slot(tmp_path, "07:00")
    assert again in check_consistent(db)
