"""A schedule is quiet (issue 28, item 9): at the default level a slot logs its own line, not
the schema migrations' nor one line per HTTP request (the real command, in-process, on a fixed
session morning)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from orchestrator_stubs import model_stubs

from orchestrator.cli.main import main
from orchestrator.jobs import schedule
from orchestrator.storage.store import Store  # noqa: F401 - alembic logs its plugins at import

MORNING = datetime(2024, 7, 2, 10, 31, tzinfo=UTC)  # 06:31 New York, a session day


def test_a_slot_logs_no_alembic_and_no_request_lines(
    tmp_path: Path, monkeypatch, caplog, restore_logging
):
    monkeypatch.setattr(schedule, "utc_now", lambda: MORNING)
    monkeypatch.setenv("PREMARKET_CONFIG", "")
    monkeypatch.setenv("PREMARKET_DATABASE_URL", f"sqlite:///{tmp_path / 'q.db'}")
    monkeypatch.setenv("PREMARKET_STATE_DIR", str(tmp_path / "state"))
    caplog.set_level(logging.INFO)
    with model_stubs() as services:
        for name, stub in services.items():
            monkeypatch.setenv(f"PREMARKET_{name.upper()}__URL", stub.url)
        code = main(["schedule", "--once", "--slot", "06:30", "--offline"])
    assert code in (0, 3)  # ok, or partial where the bundled news has a gap
    names = {r.name.split(".")[0] for r in caplog.records if r.levelno < logging.WARNING}
    assert "alembic" not in names and "httpx" not in names and "httpcore" not in names
    assert any("slot 2024-07-02 06:30: run" in r.getMessage() for r in caplog.records)
