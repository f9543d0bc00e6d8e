"""The paper book trades the target it claims (issue 27, items 3-4): the session's open to its
close by default, with costs per side shown in the book; a later HOLD cancels a queued order;
a symbol whose bars failed keeps its own mark and fills at its own open later."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
import run_documents as documents
from test_paper_store import write_prices

from orchestrator.data.market import MarketDataError, OfflineMarketData
from orchestrator.documents.run import RunResult
from orchestrator.storage.store import Store
from orchestrator.tracking.paper import PaperTrader
from orchestrator.tracking.paper_account import PaperAccount, report
from premarket.settings import PaperSettings

D1, D2, D3 = date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)


def run(run_id: str, day: date, stamp: str = "10:30", **signals: dict) -> RunResult:
    return documents.make_run(
        run_id, day.isoformat(), f"{day.isoformat()}T{stamp}:00.000Z", signals=signals
    )


def signal(action: str, price: float) -> dict:
    return documents.signal(price, action=action, confidence=0.8, data_as_of="2024-07-01")


def test_a_signal_is_traded_from_its_open_to_its_close_with_costs() -> None:
    rules = PaperSettings(sizing="fixed")  # session holding and 5 bp per side: the defaults
    trader = PaperTrader(rules)
    book = trader.new_book()
    morning = run("r1", D2, AAPL=signal("BUY STRONG", 100.0), TSLA=signal("SELL STRONG", 200.0))
    prices = {"AAPL": [(D2, 100.0, 103.0), (D3, 90.0, 80.0)], "TSLA": [(D2, 200.0, 204.0)]}
    events = trader.replay(book, [morning], prices)
    assert book.positions == {} and [t.reason for t in book.trades] == ["session", "session"]
    aapl, tsla = sorted(book.trades, key=lambda t: t.symbol)
    assert (aapl.entry_date, aapl.exit_date, aapl.quantity) == (D2, D2, 50)  # D3 never touches it
    fees_aapl = 50 * 100.0 * 5e-4 + 50 * 103.0 * 5e-4
    assert aapl.costs == pytest.approx(fees_aapl)
    assert aapl.pnl == pytest.approx(50 * 3.0 - fees_aapl)
    assert aapl.return_pct == pytest.approx(100 * (150.0 - fees_aapl) / 5000.0)
    assert tsla.side == "SHORT" and tsla.pnl == pytest.approx(-tsla.quantity * 4.0 - tsla.costs)
    assert tsla.costs == pytest.approx(tsla.quantity * (200.0 + 204.0) * 5e-4)
    assert book.costs == pytest.approx(aapl.costs + tsla.costs)
    assert book.cash == pytest.approx(100_000 + aapl.pnl + tsla.pnl)
    assert book.equity_curve[D2] == pytest.approx(book.cash)
    assert any("opened LONG 50 AAPL at 100.00" in e for e in events)
    assert report(book, rules).costs == pytest.approx(book.costs)


def test_hold_keeps_the_original_rule() -> None:
    trader = PaperTrader(PaperSettings(sizing="fixed", holding="hold", cost_bps=0))
    book = trader.new_book()
    morning = run("r1", D2, AAPL=signal("BUY STRONG", 100.0))
    trader.replay(book, [morning], {"AAPL": [(D2, 100.0, 103.0), (D3, 104.0, 105.0)]})
    assert book.trades == [] and book.positions["AAPL"].last_price == 105.0


def test_a_later_hold_cancels_the_queued_order() -> None:
    trader = PaperTrader(PaperSettings())
    book = trader.new_book()
    early = run("r1", D2, "10:30", AAPL=signal("BUY STRONG", 100.0))
    later = run("r2", D2, "12:30", AAPL=signal("HOLD NEUTRAL", 100.0))
    events = trader.replay(book, [early, later], {"AAPL": [(D2, 100.0, 103.0)]})
    assert "cancelled LONG AAPL: the later run says HOLD" in events
    assert book.trades == [] and book.positions == {} and book.pending == {}


class Flaky(OfflineMarketData):
    """The price file, except that one symbol's first fetch fails (a feed outage)."""

    def __init__(self, path: Path, failing: str) -> None:
        super().__init__(path)
        self.failing = failing

    async def bars_between(self, symbol, start, end):
        if symbol == self.failing:
            self.failing = ""
            raise MarketDataError(f"{symbol}: Yahoo chart API: 503")
        return await super().bars_between(symbol, start, end)


def test_a_failed_price_fetch_moves_neither_the_mark_nor_the_fill(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "prices.csv")
    store = Store(f"sqlite:///{tmp_path / 'paper.db'}")
    try:
        store.save_run(run("r1", D2, AAPL=signal("BUY STRONG", 100.0),
                           TSLA=signal("SELL STRONG", 200.0)))  # fmt: skip
        account = PaperAccount(store.engine, PaperSettings(sizing="fixed"))
        market = Flaky(prices, failing="TSLA")
        asyncio.run(account.update(market, until=D3))
        book = account.load()
        assert book.marks == {"AAPL": D3} and "TSLA" in book.pending
        asyncio.run(account.update(market, until=date(2024, 7, 5)))
        book = account.load()
        tsla = next(t for t in book.trades if t.symbol == "TSLA")
        assert tsla.entry_date == D2 and tsla.entry_price == 200.0  # its own open, not days later
        assert book.marks["TSLA"] == date(2024, 7, 5)
    finally:
        store.close()


def test_bars_that_come_late_never_rewrite_recorded_equity() -> None:
    trader = PaperTrader(PaperSettings(sizing="fixed", holding="hold", cost_bps=0))
    book = trader.new_book()
    morning = run("r1", D2, AAPL=signal("BUY STRONG", 100.0), TSLA=signal("SELL STRONG", 200.0))
    trader.replay(book, [morning], {"AAPL": [(D2, 100.0, 102.0), (D3, 102.0, 104.0)]})
    before = dict(book.equity_curve)
    assert set(before) == {D2, D3}
    trader.replay(book, [], {"TSLA": [(D2, 200.0, 190.0), (D3, 190.0, 180.0)]})  # TSLA came late
    assert {d: book.equity_curve[d] for d in before} == before
