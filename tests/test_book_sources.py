"""One book, one source of bars (issue 28.4): a paper book or an accuracy ledger marked with an
offline price file refuses Yahoo bars (and the other way round), and a paper book of live runs
refuses replays, through the real CLI and store, before anything is fetched or changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orchestrator_stubs import DEAD_URL
from test_paper_store import morning_run, write_prices

from orchestrator.cli.main import main
from orchestrator.storage.store import Store


@pytest.fixture
def replayed(tmp_path: Path, monkeypatch) -> Path:
    """A store holding one replayed morning; Yahoo on a closed port (never reached)."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = Store(url)
    store.save_run(morning_run().model_copy(update={"mode": "replay"}))
    store.close()
    monkeypatch.setenv("PREMARKET_DATABASE_URL", url)
    monkeypatch.setenv("PREMARKET_YAHOO_CHART_URL", DEAD_URL + "/chart/{symbol}")
    return write_prices(tmp_path / "prices.csv")


def test_a_paper_book_of_file_bars_refuses_yahoo_bars(replayed: Path, capsys) -> None:
    offline = ["paper", "--replays", "--prices", str(replayed), "--json"]
    assert main([*offline, "--until", "2024-07-03"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["open_positions"] or before["closed_trades"]
    assert main(["paper", "--replays", "--until", "2024-07-08"]) == 2
    refused = capsys.readouterr().err.strip().splitlines()
    assert (
        len(refused) == 1
        and "the paper book holds replay runs with bars from the price file" in (refused[0])
    )
    assert "would add replay runs with bars from the Yahoo chart API (127.0.0.1:9)" in refused[0]
    assert main([*offline, "--until", "2024-07-03"]) == 0  # the same source: as it was
    after = json.loads(capsys.readouterr().out)
    assert after["events"] == [] and {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }


def test_an_accuracy_ledger_of_file_bars_refuses_yahoo_bars(replayed: Path, capsys) -> None:
    chart = ["--chart", str(replayed.with_name("accuracy.png"))]
    offline = ["accuracy", "--replays", "--prices", str(replayed), "--json", *chart]
    assert main(offline) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["newly_scored"] > 0
    assert main(["accuracy", "--replays", *chart]) == 2
    refused = capsys.readouterr().err
    assert "the accuracy:replay book holds replay runs with bars from the price file" in refused
    assert main(["accuracy", *chart]) == 0  # the live ledger is another book, still empty
