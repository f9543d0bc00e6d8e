"""The paper book in a real store (SQLite and PostgreSQL), marked with closes from a price CSV,
and its CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest
import run_documents as documents

from orchestrator.cli.main import main
from orchestrator.data.market import OfflineMarketData
from orchestrator.documents.run import RunResult
from orchestrator.storage.store import Store
from orchestrator.tracking.paper_account import PaperAccount
from premarket.settings import Settings

CLOSES = {
    "AAPL": {"07-01": 100, "07-02": 104, "07-03": 95, "07-05": 91, "07-08": 120},  # stop on 07-05
    "TSLA": {"07-01": 200, "07-02": 190, "07-03": 180, "07-05": 168, "07-08": 150},  # profit 07-05
    "MSFT": {"07-01": 400, "07-02": 401, "07-03": 402, "07-05": 403, "07-08": 404},
}


def write_prices(path: Path) -> Path:
    """Each day opens at the previous close (no overnight gaps) and trades in a wide range."""
    lines = ["symbol,date,open,high,low,close,adj_close,volume"]
    for symbol, closes in CLOSES.items():
        previous = None
        for day, c in closes.items():
            o = previous or c
            lines.append(f"{symbol},2024-{day},{o},{max(o, c)},{min(o, c)},{c},{c},1000")
            previous = c
    path.write_text("\n".join(lines) + "\n")
    return path


def signal(action: str, confidence: float, price: float) -> dict:
    return documents.signal(price, action=action, confidence=confidence, data_as_of="2024-07-01")


def morning_run() -> RunResult:
    """The run of Tuesday 2 July 2024, on Monday's closes."""
    signals = {
        "AAPL": signal("BUY STRONG", 0.80, 100.0),
        "TSLA": signal("SELL STRONG", 0.90, 200.0),
        "MSFT": signal("BUY WEAK", 0.60, 400.0),  # below the confidence floor
    }
    return documents.make_run(
        "run_0702", "2024-07-02", "2024-07-02T10:30:00.000Z", signals=signals, as_of="2024-07-01"
    )


@pytest.fixture
def setup(tmp_path: Path, database_url: str):
    # the original holding rule without fees: the stops and targets these tests follow
    settings = Settings(
        database_url=database_url,
        state_dir=tmp_path / "s",
        paper={"holding": "hold", "cost_bps": 0},
    )
    store = Store(settings.database_url)
    store.save_run(morning_run())
    market = OfflineMarketData(write_prices(tmp_path / "prices.csv"))
    yield settings, store, market
    store.close()


def test_book_follows_runs_and_closes_with_stop_loss_and_take_profit(setup) -> None:
    settings, store, market = setup
    account = PaperAccount(store.engine, settings.paper)

    first = asyncio.run(account.update(market, until=date(2024, 7, 3)))
    assert first == [  # the run of 2 July fills at that day's open (the 1 July closes)
        "queued SHORT TSLA for the open of 2024-07-02",
        "queued LONG AAPL for the open of 2024-07-02",
        "opened SHORT 25 TSLA at 200.00",
        "opened LONG 50 AAPL at 100.00",
    ]
    book = account.load()
    assert set(book.positions) == {"AAPL", "TSLA"} and book.marked("AAPL") == date(2024, 7, 3)
    assert book.marks == dict.fromkeys(("AAPL", "MSFT", "TSLA"), date(2024, 7, 3))
    assert book.equity == pytest.approx(100_000 - 50 * 5 + 25 * 20)

    second = asyncio.run(account.update(market, until=date(2024, 7, 12)))
    assert second == [
        "stop-loss: closed LONG AAPL at 91.00 (-9.00%)",
        "take-profit: closed SHORT TSLA at 168.00 (+16.00%)",
    ]
    book = account.load()
    assert book.positions == {} and [t.reason for t in book.trades] == ["stop_loss", "take_profit"]
    assert book.equity_curve == {
        date(2024, 7, 2): pytest.approx(100_450.0),
        date(2024, 7, 3): pytest.approx(100_250.0),
        date(2024, 7, 5): pytest.approx(100_350.0),
        date(2024, 7, 8): pytest.approx(100_350.0),
    }

    assert asyncio.run(account.update(market, until=date(2024, 7, 12))) == []  # idempotent
    assert account.load() == book
    summary = account.report()
    assert summary.win_rate == 0.5 and summary.closed_trades == 2
    assert summary.max_drawdown_pct == pytest.approx(100 * 200 / 100_450)


def test_paper_command(setup, tmp_path: Path, monkeypatch, capsys) -> None:
    settings, _, _ = setup
    monkeypatch.setenv("PREMARKET_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PREMARKET_PAPER__HOLDING", "hold")  # the rule of the book above
    monkeypatch.setenv("PREMARKET_PAPER__COST_BPS", "0")
    prices = str(tmp_path / "prices.csv")
    args = ["paper", "--offline", "--prices", prices, "--until", "2024-07-12"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["equity"] == pytest.approx(100_350.0)
    assert report["win_rate"] == 0.5 and len(report["events"]) == 6
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Paper trading" in out and "win rate 50.00%" in out and "$100,350.00" in out
    with pytest.raises(SystemExit) as usage:
        main(["paper", "--until", "July"])
    assert usage.value.code == 2
    assert "--until: 'July' is not a date" in capsys.readouterr().err


def test_replays_are_traded_only_on_request_and_an_empty_book_says_so(
    setup, tmp_path: Path, monkeypatch, capsys
) -> None:
    settings, store, _ = setup
    replay = morning_run().model_copy(update={"run_id": "replay_0702", "mode": "replay"})
    store.save_run(replay)
    monkeypatch.setenv("PREMARKET_DATABASE_URL", settings.database_url)
    prices = str(tmp_path / "prices.csv")
    args = ["paper", "--offline", "--prices", prices, "--until", "2024-07-01"]
    assert main(args) == 0  # live runs: the morning run queues orders the 1st cannot fill
    out = capsys.readouterr().out
    assert "no open positions" in out
    assert "queued: LONG AAPL, fills at the first open on or after 2024-07-02" in out
    # one book never holds both live runs and replays (issue 28.4): refused, and said why
    assert main([*args, "--replays", "--json"]) == 2
    refused = capsys.readouterr().err
    assert "the paper book holds live runs" in refused and "would add replay runs" in refused
    replays_db = f"sqlite:///{tmp_path / 'replays.db'}"  # a book of their own
    own = Store(replays_db)
    own.save_run(replay)
    own.close()
    monkeypatch.setenv("PREMARKET_DATABASE_URL", replays_db)
    assert main([*args, "--replays", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == [  # only the replay run is in this book
        "queued SHORT TSLA for the open of 2024-07-02",
        "queued LONG AAPL for the open of 2024-07-02",
    ]
