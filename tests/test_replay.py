"""``premarket replay`` (issue 32.3): past mornings offline through the real CLI and store, each
once, then scored and traded on paper; the exit status is the worst morning's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orchestrator_stubs import DEAD_URL

from orchestrator.cli.main import main


def test_replay_stores_each_morning_once_and_scores_them(tmp_path: Path, monkeypatch, capsys):
    database = tmp_path / "replays.db"
    monkeypatch.setenv("PREMARKET_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("PREMARKET_STATE_DIR", str(tmp_path / "state"))
    for name in ("TFT", "NHITS", "SENTIMENT"):  # every model service down: statistical tier
        monkeypatch.setenv(f"PREMARKET_{name}__URL", DEAD_URL)
    monkeypatch.setenv("PREMARKET_CHAIN__RETRIES", "0")
    args = ["replay", "--until", "2022-09-20", "--mornings", "3", "--symbols", "MSFT", "AAPL"]
    assert main(args) == 4  # degraded: both model services unavailable, said per run
    out = capsys.readouterr().out
    assert "[1/3] 2022-09-19: ok, 2/2 analysed" in out and "[3/3] 2022-09-21" in out
    assert "accuracy:" in out and "paper book: equity" in out
    assert main(args) == 0  # nothing left to replay
    assert capsys.readouterr().out.count("stored already") == 3
    with sqlite3.connect(database) as db:
        runs = db.execute("select business_date, mode from runs order by business_date").fetchall()
        scored = db.execute("select count(*) from forecast_scores where mode = 'replay'").fetchone()
    assert runs == [("2022-09-19", "replay"), ("2022-09-20", "replay"), ("2022-09-21", "replay")]
    assert scored[0] > 0
    assert main(["replay", "--until", "2022-09-20", "--mornings", "0"]) == 2
    assert "--mornings: 0 is not between 1 and 250" in capsys.readouterr().err
