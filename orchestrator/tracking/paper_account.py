"""The paper book kept in the store, so ``premarket paper`` can run any number of times.

Positions, queued orders, round-trip trades, the daily equity curve and the runs already
applied are tables of the store; ``PaperTrader`` (``tracking.paper``) applies the rules to the book in memory.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from sqlalchemy import Engine, delete, insert, select

from orchestrator.data.market import MarketData, MarketDataError
from orchestrator.documents.run import RunResult
from orchestrator.storage.tables import (
    PAPER_TABLES,
    paper_account,
    paper_equity,
    paper_marks,
    paper_orders,
    paper_positions,
    paper_runs,
    paper_trades,
    runs,
)
from orchestrator.tracking.accuracy import Mode
from orchestrator.tracking.books import claim
from orchestrator.tracking.metrics import max_drawdown, returns_of, sharpe_ratio
from orchestrator.tracking.paper import PaperTrader
from orchestrator.tracking.paper_book import Book, Order, Position, Trade
from premarket.settings import PaperSettings

log = logging.getLogger(__name__)


class PaperAccount:
    """The paper book kept in the store: the tracker ``sync_with_paper_trading`` feeds.

    Each change loads the book, applies runs or closes and writes the whole book back in one
    transaction, so a crash leaves the previous state, never half an update. The book is small
    (positions, round trips, one equity point a day).
    """

    def __init__(self, engine: Engine, rules: PaperSettings) -> None:
        self.engine = engine
        self.trader = PaperTrader(rules)

    def load(self) -> Book:
        with self.engine.connect() as conn:
            account = conn.execute(select(paper_account)).first()
            book = self.trader.new_book()
            if account is not None:
                book.cash, book.marked_through = account.cash, account.marked_through
            for row in conn.execute(select(paper_positions)):
                book.positions[row.symbol] = Position(**row._mapping)
            book.trades = [
                Trade(**{k: v for k, v in row._mapping.items() if k != "id"})
                for row in conn.execute(select(paper_trades).order_by(paper_trades.c.id))
            ]
            book.equity_curve = {r.day: r.equity for r in conn.execute(select(paper_equity))}
            book.applied_runs = set(conn.execute(select(paper_runs.c.run_id)).scalars())
            book.pending = {
                row.symbol: Order(**row._mapping) for row in conn.execute(select(paper_orders))
            }
            book.marks = {r.symbol: r.marked_through for r in conn.execute(select(paper_marks))}
        return book

    def save(self, book: Book) -> None:
        with self.engine.begin() as conn:
            for table in PAPER_TABLES:
                conn.execute(delete(table))
            conn.execute(
                insert(paper_account).values(
                    id=1, cash=book.cash, marked_through=book.marked_through
                )
            )
            if book.positions:
                conn.execute(insert(paper_positions), [asdict(p) for p in book.positions.values()])
            if book.trades:
                conn.execute(insert(paper_trades), [asdict(t) for t in book.trades])
            if book.equity_curve:
                conn.execute(
                    insert(paper_equity),
                    [{"day": d, "equity": e} for d, e in book.equity_curve.items()],
                )
            if book.applied_runs:
                conn.execute(insert(paper_runs), [{"run_id": r} for r in book.applied_runs])
            if book.pending:
                conn.execute(insert(paper_orders), [asdict(o) for o in book.pending.values()])
            if book.marks:
                conn.execute(
                    insert(paper_marks),
                    [{"symbol": s, "marked_through": d} for s, d in book.marks.items()],
                )

    def apply_run(self, run: RunResult) -> list[str]:
        """Queue the orders of one run (e.g. the latest one from the results API); the next
        ``update`` fills them at the first open after the run."""
        book = self.load()
        done = self.trader.apply_run(book, run)
        self.save(book)
        return done

    async def update(
        self, market: MarketData, until: date, modes: tuple[Mode, ...] = ("live",)
    ) -> list[str]:
        """Apply the stored runs (of ``modes``) not yet applied, fill their orders at the next
        open and mark to market with closes up to ``until``.

        Bars already in the book (up to each symbol's mark) are not replayed, so running this
        any number of times gives the same book; a symbol whose bars could not be fetched keeps
        its mark, so its order fills at its own open once they can.
        """
        book = self.load()
        with self.engine.begin() as conn:  # one book, one kind of runs, one source of bars
            started = bool(book.applied_runs or book.positions or book.pending or book.trades)
            claim(conn, "paper", "+".join(modes), market.source, started=started)
        with self.engine.connect() as conn:
            stored = list(
                conn.execute(
                    select(runs.c.document)
                    .where(runs.c.status != "failed")
                    .where(runs.c.run_id.not_in(book.applied_runs))
                ).scalars()
            )
        new_runs = [run for run in map(RunResult.model_validate, stored) if run.mode in modes]
        starts = [p.entry_date for p in book.positions.values()]
        starts += [o.business_date for o in book.pending.values()]
        starts += [r.business_date for r in new_runs]
        symbols = set(book.positions) | set(book.pending) | {s for r in new_runs for s in r.signals}
        bars: dict[str, list[tuple[date, float, float]]] = {}
        if starts:
            for symbol in sorted(symbols):
                start = min(starts)
                if (marked := book.marked(symbol)) is not None:
                    start = max(start, marked + timedelta(days=1))
                try:
                    bars[symbol] = await market.bars_between(symbol, start, until)
                except MarketDataError as exc:  # its marks stay: its bars are fetched next time
                    log.warning("paper: no bars for %s (%s)", symbol, exc)
        done = self.trader.replay(book, new_runs, bars)
        for symbol, series in bars.items():
            if series:
                book.marks[symbol] = max(d for d, _, _ in series)
        self.save(book)
        return done

    def report(self) -> Report:
        return report(self.load(), self.trader.rules)


@dataclass(frozen=True)
class Report:
    """What ``premarket paper`` shows."""

    starting_cash: float
    equity: float
    cash: float
    total_return_pct: float
    open_positions: list[Position]
    closed_trades: int
    win_rate: float | None
    max_drawdown_pct: float
    sharpe: float | None
    pending_orders: list[Order] = field(default_factory=list)
    costs: float = 0.0
    """Fees paid so far (``paper.cost_bps`` per side), included in the equity."""
    holding: str = "session"


def report(book: Book, rules: PaperSettings) -> Report:
    """Equity, open positions, win rate, max drawdown and Sharpe of the book."""
    curve = [rules.starting_cash] + [book.equity_curve[d] for d in sorted(book.equity_curve)]
    wins = sum(1 for t in book.trades if t.pnl > 0)
    return Report(
        starting_cash=rules.starting_cash,
        equity=book.equity,
        cash=book.cash,
        total_return_pct=100.0 * (book.equity / rules.starting_cash - 1.0),
        open_positions=sorted(book.positions.values(), key=lambda p: p.symbol),
        closed_trades=len(book.trades),
        win_rate=wins / len(book.trades) if book.trades else None,
        max_drawdown_pct=100.0 * max_drawdown(curve),
        sharpe=sharpe_ratio(returns_of(curve)),
        pending_orders=sorted(book.pending.values(), key=lambda o: o.symbol),
        costs=round(book.costs, 6),
        holding=rules.holding,
    )
