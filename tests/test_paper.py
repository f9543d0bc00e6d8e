"""Paper trading rules: sizing, risk cap, stop-loss, take-profit, opposite signals, report."""

from __future__ import annotations

import math
from datetime import date

import pytest
import run_documents as documents

from orchestrator.documents.run import RunResult
from orchestrator.tracking.metrics import max_drawdown, returns_of, sharpe_ratio
from orchestrator.tracking.paper import PaperTrader
from orchestrator.tracking.paper_account import report
from premarket.settings import PaperSettings

HOLD = {"holding": "hold", "cost_bps": 0.0}
"""The original holding rule without fees: what these tests pin down (session trades and
costs have their own, tests/test_paper_session.py)."""

D1, D2, D3 = date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)


def signal(action: str, confidence: float, price: float, success: bool = True) -> dict:
    if not success:
        return {"success": False, "error": "no data"}
    return documents.signal(price, action=action, confidence=confidence)


def run(run_id: str, day: date, **signals: dict) -> RunResult:
    return documents.make_run(
        run_id, day.isoformat(), f"{day.isoformat()}T10:30:00.000Z", signals=signals
    )


def bars(*rows: tuple[date, float, float]) -> list[tuple[date, float, float]]:
    """(day, open, close) rows."""
    return list(rows)


def test_stop_loss_and_take_profit_sequence() -> None:
    rules = PaperSettings(**HOLD)
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
    prices = {  # the D1 opens equal the closes the run saw: no overnight gap here
        "AAPL": bars((D1, 100.0, 104.0), (D2, 95.0, 91.0), (D3, 118.0, 120.0)),  # D2 -9%: stop
        "TSLA": bars((D1, 200.0, 190.0), (D2, 175.0, 168.0), (D3, 151.0, 150.0)),  # +16%: profit
        "MSFT": bars((D1, 300.0, 330.0), (D2, 331.0, 340.0)),
    }
    events = trader.replay(book, [morning], prices)

    assert [t.symbol for t in book.trades] == ["AAPL", "TSLA"]
    aapl, tsla = book.trades
    assert (aapl.side, aapl.quantity, aapl.reason, aapl.exit_date) == ("LONG", 50, "stop_loss", D2)
    assert aapl.exit_price == 91.0 and aapl.pnl == pytest.approx(-450.0)
    assert (tsla.side, tsla.quantity, tsla.reason) == ("SHORT", 25, "take_profit")
    assert tsla.exit_price == 168.0 and tsla.pnl == pytest.approx(800.0)
    assert tsla.return_pct == pytest.approx(16.0)
    assert book.positions == {} and book.pending == {}
    assert book.cash == pytest.approx(100_350.0)
    assert book.equity_curve == {D1: pytest.approx(100_450.0), D2: pytest.approx(100_350.0)} | {
        D3: pytest.approx(100_350.0)
    }
    assert events[:2] == [
        "queued SHORT TSLA for the open of 2024-07-01",
        "queued LONG AAPL for the open of 2024-07-01",
    ]
    assert events[2:4] == ["opened SHORT 25 TSLA at 200.00", "opened LONG 50 AAPL at 100.00"]
    assert any("stop-loss" in e for e in events) and any("take-profit" in e for e in events)

    summary = report(book, rules)
    assert summary.equity == pytest.approx(100_350.0)
    assert summary.closed_trades == 2 and summary.win_rate == 0.5
    assert summary.max_drawdown_pct == pytest.approx(100 * 100 / 100_450)
    assert summary.open_positions == [] and summary.pending_orders == []


def test_an_overnight_gap_is_not_booked_as_a_gain() -> None:
    """The run saw a close of 100; news overnight sent the open to 110. The order fills at 110,
    so the gap the signal was reacting to is not profit the book could have had."""
    trader = PaperTrader(PaperSettings(**HOLD))
    book = trader.new_book()
    morning = run("r1", D2, AAPL=signal("BUY STRONG", 0.8, 100.0))
    trader.apply_run(book, morning)
    assert book.positions == {} and book.equity == pytest.approx(100_000.0)  # queued only
    trader.replay(book, [morning], {"AAPL": bars((D1, 99.0, 100.0), (D2, 110.0, 110.0))})
    position = book.positions["AAPL"]
    assert (position.entry_price, position.entry_date, position.quantity) == (110.0, D2, 45)
    assert book.equity_curve == {D1: pytest.approx(100_000.0), D2: pytest.approx(100_000.0)}


@pytest.mark.parametrize("minimum", [1_000.0, 0.0])
def test_position_size_total_risk_cap_and_minimum_order(minimum: float) -> None:
    trader = PaperTrader(PaperSettings(**HOLD, max_total_risk_pct=0.151, min_order_usd=minimum))
    book = trader.new_book()
    signals = {f"S{i}": signal("BUY STRONG", 0.9 - i / 100, 100.0) for i in range(4)}
    opens = {s: bars((D1, 100.0, 100.0)) for s in signals}
    trader.replay(book, [run("r1", D1, **signals)], opens)
    # 5% of $100k each, 15.1% in all: the three strongest fill with 50 shares at $100; the
    # weakest finds $100 of the cap left: one share, unless a $1,000 minimum order stops it.
    assert [book.positions[s].quantity for s in ("S0", "S1", "S2")] == [50, 50, 50]
    assert book.pending == {}
    if minimum:
        assert "S3" not in book.positions
    else:
        assert book.positions["S3"].quantity == 1


def test_a_run_is_applied_once_and_an_opposite_signal_closes_at_the_open() -> None:
    trader = PaperTrader(PaperSettings(**HOLD))
    book = trader.new_book()
    first = run("r1", D1, AAPL=signal("BUY STRONG", 0.8, 100.0))
    assert trader.apply_run(book, first) and trader.apply_run(book, first) == []
    trader.replay(book, [], {"AAPL": bars((D1, 100.0, 101.0))})
    assert book.positions["AAPL"].quantity == 50 and book.cash == pytest.approx(95_000.0)
    again = run("r2", D2, AAPL=signal("BUY STRONG", 0.9, 102.0))  # no pyramiding
    opposite = run("r3", D3, AAPL=signal("SELL WEAK", 0.7, 103.0))
    trader.replay(book, [again, opposite], {"AAPL": bars((D2, 101.0, 102.0), (D3, 104.0, 103.0))})
    assert book.positions == {}
    (trade,) = book.trades
    assert (trade.reason, trade.exit_price, trade.pnl) == ("signal", 104.0, pytest.approx(200.0))


def test_stale_signals_never_trade() -> None:
    trader = PaperTrader(PaperSettings(**HOLD))
    book = trader.new_book()
    stale = signal("BUY STRONG", 0.9, 100.0) | {"stale": True}
    assert trader.apply_run(book, run("r1", D1, AAPL=stale)) == []
    assert book.pending == {}


def test_a_gap_through_the_stop_closes_at_that_close() -> None:
    trader = PaperTrader(PaperSettings(**HOLD))
    book = trader.new_book()
    trader.replay(
        book,
        [run("r1", D1, AAPL=signal("BUY STRONG", 0.8, 100.0))],
        {"AAPL": bars((D1, 100.0, 80.0))},
    )
    (trade,) = book.trades
    assert trade.reason == "stop_loss" and trade.return_pct == pytest.approx(-20.0)


def test_bars_before_the_business_date_neither_fill_nor_mark() -> None:
    trader = PaperTrader(PaperSettings(**HOLD))
    book = trader.new_book()
    trader.replay(
        book,
        [run("r1", D2, AAPL=signal("BUY STRONG", 0.8, 100.0))],
        {"AAPL": bars((D1, 50.0, 50.0), (D2, 100.0, 101.0))},  # D1 is before the run
    )
    assert book.trades == [] and book.positions["AAPL"].entry_price == 100.0
    assert book.positions["AAPL"].last_price == 101.0


def test_drawdown_and_sharpe() -> None:
    assert max_drawdown([100, 120, 90, 130, 117]) == pytest.approx(0.25)
    assert max_drawdown([100, 101, 102]) == 0.0
    # daily returns 1% and 3%: mean 2%, sample std sqrt(2)%, annualised by sqrt(252)
    assert sharpe_ratio(returns_of([100.0, 101.0, 104.03])) == pytest.approx(
        math.sqrt(2) * math.sqrt(252)
    )
    assert sharpe_ratio(returns_of([100.0, 101.0])) is None
    assert sharpe_ratio(returns_of([100.0, 100.0, 100.0])) is None
