"""The paper book in a real SQLite store, marked with closes from a price CSV, and its CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.market import OfflineMarketData
from orchestrator.paper import PaperAccount
from orchestrator.store import Store
from premarket.settings import Settings

CLOSES = {
    "AAPL": {"07-01": 100, "07-02": 104, "07-03": 95, "07-05": 91, "07-08": 120},  # stop on 07-05
    "TSLA": {"07-01": 200, "07-02": 190, "07-03": 180, "07-05": 168, "07-08": 150},  # profit 07-05
    "MSFT": {"07-01": 400, "07-02": 401, "07-03": 402, "07-05": 403, "07-08": 404},
}


def write_prices(path: Path) -> Path:
    lines = ["symbol,date,open,high,low,close,adj_close,volume"]
    for symbol, closes in CLOSES.items():
        for day, c in closes.items():
            lines.append(f"{symbol},2024-{day},{c},{c},{c},{c},{c},1000")
    path.write_text("\n".join(lines) + "\n")
    return path


def signal(action: str, confidence: float, price: float) -> dict:
    direction = "UP" if action.startswith("BUY") else "DOWN"
    return {
        "success": True,
        "action": action,
        "confidence": confidence,
        "signal_score": 0.6 if direction == "UP" else -0.6,
        "current_price": price,
        "data_as_of": "2024-07-01",
        "components": {
            "price_prediction": {
                "model_used": "TFT (Primary)",
                "tier": "tft",
                "predicted_price": price,
                "direction": direction,
                "confidence": confidence,
                "quantiles": None,
                "forecast_path": [price],
            }
        },
    }


def morning_run() -> dict:
    """The run of Tuesday 2 July 2024, on Monday's closes."""
    return {
        "run_id": "run_0702",
        "timestamp": "2024-07-02T10:30:00.000Z",
        "business_date": "2024-07-02",
        "as_of": "2024-07-01",
        "slot": "06:30",
        "status": "ok",
        "symbols_analyzed": ["AAPL", "TSLA", "MSFT"],
        "trading_signals": {
            "AAPL": signal("BUY STRONG", 0.80, 100.0),
            "TSLA": signal("SELL STRONG", 0.90, 200.0),
            "MSFT": signal("BUY WEAK", 0.60, 400.0),  # below the confidence floor
        },
    }


@pytest.fixture
def setup(tmp_path: Path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", state_dir=tmp_path / "s")
    store = Store(settings.database_url)
    store.save_run(morning_run())
    market = OfflineMarketData(write_prices(tmp_path / "prices.csv"))
    yield settings, store, market
    store.close()


def test_book_follows_runs_and_closes_with_stop_loss_and_take_profit(setup) -> None:
    settings, store, market = setup
    account = PaperAccount(store.engine, settings.paper)

    first = asyncio.run(account.update(market, until=date(2024, 7, 3)))
    assert first == ["opened SHORT 25 TSLA at 200.00", "opened LONG 50 AAPL at 100.00"]
    book = account.load()
    assert set(book.positions) == {"AAPL", "TSLA"} and book.marked_through == date(2024, 7, 3)
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
    prices = str(tmp_path / "prices.csv")
    args = ["paper", "--offline", "--prices", prices, "--until", "2024-07-12"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["equity"] == pytest.approx(100_350.0)
    assert report["win_rate"] == 0.5 and len(report["events"]) == 4
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Paper trading" in out and "win rate 50.00%" in out and "$100,350.00" in out
    with pytest.raises(SystemExit) as usage:
        main(["paper", "--until", "July"])
    assert usage.value.code == 2
    assert "--until: 'July' is not a date" in capsys.readouterr().err
