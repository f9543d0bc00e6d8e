"""Paper trading rules: sizing, risk cap, stop-loss, take-profit, opposite signals, report."""

from __future__ import annotations

import math
from datetime import date

import pytest

from orchestrator.paper import PaperTrader, max_drawdown, report, sharpe_ratio
from premarket.settings import PaperSettings

D1, D2, D3 = date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)


def signal(action: str, confidence: float, price: float, success: bool = True) -> dict:
    return {
        "success": success,
        "action": action,
        "confidence": confidence,
        "current_price": price,
        "signal_score": 0.6 if action.startswith("BUY") else -0.6,
    }


def run(run_id: str, day: date, **signals: dict) -> dict:
    return {
        "run_id": run_id,
        "business_date": day.isoformat(),
        "timestamp": f"{day.isoformat()}T10:30:00Z",
        "trading_signals": signals,
    }


def test_stop_loss_and_take_profit_sequence() -> None:
    rules = PaperSettings()
    trader = PaperTrader(rules)
    book = trader.new_book()
    morning = run(
        "r1",
        D1,
        AAPL=signal("BUY STRONG", 0.80, 100.0),
        TSLA=signal("SELL STRONG", 0.90, 200.0),
        MSFT=signal("BUY WEAK", 0.60, 300.0),  # below the 0.65 confidence floor
        GOOGL=signal("HOLD NEUTRAL", 0.95, 150.0),  # HOLD never trades
        NVDA=signal("BUY STRONG", 0.99, 50.0, success=False),  # failed analysis
    )
    closes = {
        "AAPL": [(D1, 104.0), (D2, 91.0), (D3, 120.0)],  # -9% on D2: stop-loss
        "TSLA": [(D1, 190.0), (D2, 168.0), (D3, 150.0)],  # short +16% on D2: take-profit
        "MSFT": [(D1, 330.0), (D2, 340.0)],
    }
    events = trader.replay(book, [morning], closes)

    assert [t.symbol for t in book.trades] == ["AAPL", "TSLA"]
    aapl, tsla = book.trades
    assert (aapl.side, aapl.quantity, aapl.reason, aapl.exit_date) == ("LONG", 50, "stop_loss", D2)
    assert aapl.exit_price == 91.0 and aapl.pnl == pytest.approx(-450.0)
    assert (tsla.side, tsla.quantity, tsla.reason) == ("SHORT", 25, "take_profit")
    assert tsla.exit_price == 168.0 and tsla.pnl == pytest.approx(800.0)
    assert tsla.return_pct == pytest.approx(16.0)
    assert book.positions == {}
    assert book.cash == pytest.approx(100_350.0)
    assert book.equity_curve == {D1: pytest.approx(100_450.0), D2: pytest.approx(100_350.0)} | {
        D3: pytest.approx(100_350.0)
    }
    assert any("stop-loss" in e for e in events) and any("take-profit" in e for e in events)

    summary = report(book, rules)
    assert summary.equity == pytest.approx(100_350.0)
    assert summary.closed_trades == 2 and summary.win_rate == 0.5
    assert summary.max_drawdown_pct == pytest.approx(100 * 100 / 100_450)
    assert summary.open_positions == []


def test_position_size_and_total_risk_cap() -> None:
    trader = PaperTrader(PaperSettings())
    book = trader.new_book()
    signals = {f"S{i}": signal("BUY STRONG", 0.9 - i / 100, 100.0) for i in range(6)}
    trader.apply_run(book, run("r1", D1, **signals))
    # 5% of $100k each, and 20% in all: four positions of 50 shares at $100.
    assert sorted(book.positions) == ["S0", "S1", "S2", "S3"]
    assert all(p.quantity == 50 for p in book.positions.values())
    assert book.cash == pytest.approx(80_000.0)
    assert book.equity == pytest.approx(100_000.0)


def test_a_run_is_applied_once_and_an_opposite_signal_closes() -> None:
    trader = PaperTrader(PaperSettings())
    book = trader.new_book()
    first = run("r1", D1, AAPL=signal("BUY STRONG", 0.8, 100.0))
    trader.apply_run(book, first)
    trader.apply_run(book, first)
    assert book.positions["AAPL"].quantity == 50 and book.cash == pytest.approx(95_000.0)
    trader.apply_run(book, run("r2", D2, AAPL=signal("BUY STRONG", 0.9, 102.0)))  # no pyramiding
    assert book.positions["AAPL"].quantity == 50
    trader.apply_run(book, run("r3", D3, AAPL=signal("SELL WEAK", 0.7, 103.0)))
    assert book.positions == {}
    (trade,) = book.trades
    assert (trade.reason, trade.pnl) == ("signal", pytest.approx(150.0))


def test_a_gap_through_the_stop_closes_at_that_close() -> None:
    trader = PaperTrader(PaperSettings())
    book = trader.new_book()
    trader.replay(
        book, [run("r1", D1, AAPL=signal("BUY STRONG", 0.8, 100.0))], {"AAPL": [(D1, 80.0)]}
    )
    (trade,) = book.trades
    assert trade.reason == "stop_loss" and trade.return_pct == pytest.approx(-20.0)


def test_closes_before_the_entry_do_not_mark_the_position() -> None:
    trader = PaperTrader(PaperSettings())
    book = trader.new_book()
    trader.replay(
        book,
        [run("r1", D2, AAPL=signal("BUY STRONG", 0.8, 100.0))],
        {"AAPL": [(D1, 50.0), (D2, 101.0)]},  # D1 is before the run
    )
    assert book.trades == [] and book.positions["AAPL"].last_price == 101.0


def test_drawdown_and_sharpe() -> None:
    assert max_drawdown([100, 120, 90, 130, 117]) == pytest.approx(0.25)
    assert max_drawdown([100, 101, 102]) == 0.0
    # daily returns 1% and 3%: mean 2%, sample std sqrt(2)%, annualised by sqrt(252)
    assert sharpe_ratio([100.0, 101.0, 104.03]) == pytest.approx(math.sqrt(2) * math.sqrt(252))
    assert sharpe_ratio([100.0, 101.0]) is None
    assert sharpe_ratio([100.0, 100.0, 100.0]) is None
