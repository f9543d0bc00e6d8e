"""Paper trading: follow the run's signals with play money under fixed risk rules.

The rules are ``settings.paper`` (ORIGIN.md section 5): $100k to start, a new position costs at
most 5% of equity, all open positions together at most 20% of equity, a position is closed at
the first later close that is 8% against it (stop-loss) or 15% in its favour (take-profit), and
only signals with confidence >= 0.65 and an action other than HOLD trade. BUY opens a long,
SELL a short; an opposite signal of enough confidence closes the position.

Prices are daily closes only: a position opens at the run's ``current_price`` (the last close
the run saw) and is checked against each later close, so a gap through the stop closes it at
that close and the loss can exceed 8%. The book is replayed in time order, a pre-market run on a
day before that day's close. Positions, round-trip trades, the daily equity curve and the runs
already applied live in the store, so ``premarket paper`` can be run any number of times.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import Column, Date, Engine, Float, Integer, String, Table, delete, insert, select

from orchestrator.market import MarketData, MarketDataError
from orchestrator.store import metadata, runs
from premarket.settings import PaperSettings

log = logging.getLogger(__name__)

Side = Literal["LONG", "SHORT"]
TRADING_DAYS = 252


@dataclass
class Position:
    """An open position; ``cost`` is the cash set aside for it, long or short."""

    symbol: str
    side: Side
    quantity: int
    entry_price: float
    entry_date: date
    run_id: str
    last_price: float
    last_date: date | None = None
    """The date of the last close seen; None until the first close after the entry."""

    @property
    def sign(self) -> int:
        return 1 if self.side == "LONG" else -1

    @property
    def cost(self) -> float:
        return self.quantity * self.entry_price

    def pnl_at(self, price: float) -> float:
        return self.sign * self.quantity * (price - self.entry_price)

    def return_at(self, price: float) -> float:
        return self.sign * (price / self.entry_price - 1.0)

    @property
    def market_value(self) -> float:
        return self.cost + self.pnl_at(self.last_price)


@dataclass(frozen=True)
class Trade:
    """A closed round trip."""

    symbol: str
    side: Side
    quantity: int
    entry_price: float
    entry_date: date
    exit_price: float
    exit_date: date
    reason: Literal["stop_loss", "take_profit", "signal"]
    pnl: float
    return_pct: float
    run_id: str


@dataclass
class Book:
    """The whole paper account."""

    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    equity_curve: dict[date, float] = field(default_factory=dict)
    applied_runs: set[str] = field(default_factory=set)
    marked_through: date | None = None

    @property
    def exposure(self) -> float:
        return sum(p.cost for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.cash + sum(p.market_value for p in self.positions.values())


def _run_day(run: Mapping[str, Any]) -> date:
    return date.fromisoformat(str(run["business_date"])[:10])


def _action_side(action: str) -> Side | None:
    word = (action or "").split(" ")[0].upper()
    return "LONG" if word == "BUY" else "SHORT" if word == "SELL" else None


class PaperTrader:
    """Applies runs and later closes to a ``Book`` under the paper-trading rules."""

    def __init__(self, rules: PaperSettings) -> None:
        self.rules = rules

    def new_book(self) -> Book:
        return Book(cash=self.rules.starting_cash)

    def close(self, book: Book, symbol: str, price: float, day: date, reason: str) -> Trade:
        position = book.positions.pop(symbol)
        pnl = position.pnl_at(price)
        book.cash += position.cost + pnl
        trade = Trade(
            symbol=symbol,
            side=position.side,
            quantity=position.quantity,
            entry_price=position.entry_price,
            entry_date=position.entry_date,
            exit_price=price,
            exit_date=day,
            reason=reason,  # type: ignore[arg-type]
            pnl=round(pnl, 6),
            return_pct=round(100.0 * position.return_at(price), 6),
            run_id=position.run_id,
        )
        book.trades.append(trade)
        return trade

    def apply_run(self, book: Book, run: Mapping[str, Any]) -> list[str]:
        """Open and close positions from one result document; returns what it did, in words.

        A run is applied once (by ``run_id``). Strongest signals go first so that they get the
        risk budget when it runs short.
        """
        run_id = str(run.get("run_id"))
        if run_id in book.applied_runs:
            return []
        book.applied_runs.add(run_id)
        day = _run_day(run)
        signals = [
            (symbol, s)
            for symbol, s in (run.get("trading_signals") or {}).items()
            if s.get("success") and s.get("current_price")
        ]
        signals.sort(key=lambda item: -float(item[1].get("confidence") or 0.0))
        done = []
        for symbol, signal in signals:
            side = _action_side(str(signal.get("action")))
            confidence = float(signal.get("confidence") or 0.0)
            price = float(signal["current_price"])
            if side is None or confidence < self.rules.min_confidence:
                continue
            held = book.positions.get(symbol)
            if held is not None and held.side != side:
                trade = self.close(book, symbol, price, day, "signal")
                done.append(f"closed {trade.side} {symbol} at {price:.2f} (opposite signal)")
            elif held is None:
                opened = self._open(book, symbol, side, price, day, run_id)
                if opened:
                    done.append(opened)
        return done

    def _open(
        self, book: Book, symbol: str, side: Side, price: float, day: date, run_id: str
    ) -> str | None:
        equity = book.equity
        budget = min(
            self.rules.max_position_pct * equity,
            self.rules.max_total_risk_pct * equity - book.exposure,
            book.cash,
        )
        quantity = math.floor(budget / price) if budget > 0 else 0
        if quantity < 1:
            return None
        book.positions[symbol] = Position(
            symbol, side, quantity, price, day, run_id, last_price=price
        )
        book.cash -= quantity * price
        return f"opened {side} {quantity} {symbol} at {price:.2f}"

    def mark(self, book: Book, symbol: str, day: date, close: float) -> Trade | None:
        """Mark one position with a later close; close it at a stop-loss or take-profit."""
        position = book.positions.get(symbol)
        if position is None or day < position.entry_date:
            return None
        if position.last_date is not None and day <= position.last_date:
            return None
        change = position.return_at(close)
        if change <= -self.rules.stop_loss_pct:
            return self.close(book, symbol, close, day, "stop_loss")
        if change >= self.rules.take_profit_pct:
            return self.close(book, symbol, close, day, "take_profit")
        position.last_price, position.last_date = close, day
        return None

    def replay(
        self,
        book: Book,
        runs: Iterable[Mapping[str, Any]],
        closes: Mapping[str, Iterable[tuple[date, float]]],
    ) -> list[str]:
        """Apply runs and closes in time order; a day's pre-market runs come before its close.

        After each day's closes the day's equity is recorded, which is the curve the drawdown
        and Sharpe ratio are computed from.
        """
        ordered = sorted(runs, key=lambda run: str(run.get("timestamp", "")))
        events: list[tuple[date, int, int, Any]] = [
            (_run_day(run), 0, i, run) for i, run in enumerate(ordered)
        ]
        for symbol, series in closes.items():
            events.extend((day, 1, 0, (symbol, price)) for day, price in series)
        events.sort(key=lambda event: event[:3])
        done: list[str] = []
        for day, kind, _, payload in events:
            if kind == 0:
                done.extend(self.apply_run(book, payload))
            else:
                trade = self.mark(book, payload[0], day, payload[1])
                if trade is not None:
                    done.append(
                        f"{trade.reason.replace('_', '-')}: closed {trade.side} {trade.symbol} "
                        f"at {trade.exit_price:.2f} ({trade.return_pct:+.2f}%)"
                    )
                book.equity_curve[day] = round(book.equity, 6)
        return done


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


def max_drawdown(equity: list[float]) -> float:
    """The largest fall from a running peak, as a fraction of that peak (0 when none)."""
    peak, worst = -math.inf, 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, (peak - value) / peak)
    return worst


def sharpe_ratio(equity: list[float], periods_per_year: int = TRADING_DAYS) -> float | None:
    """Annualised Sharpe ratio of the daily returns (risk-free rate 0); None when undefined."""
    returns = [b / a - 1.0 for a, b in zip(equity, equity[1:], strict=False) if a > 0]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    if std == 0:
        return None
    return mean / std * math.sqrt(periods_per_year)


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
        sharpe=sharpe_ratio(curve),
    )


paper_account = Table(
    "paper_account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cash", Float, nullable=False),
    Column("marked_through", Date, doc="Closes up to this date are in the book."),
)
paper_positions = Table(
    "paper_positions",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("side", String(8), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("run_id", String(80), nullable=False),
    Column("last_price", Float, nullable=False),
    Column("last_date", Date),
)
paper_trades = Table(
    "paper_trades",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("exit_price", Float, nullable=False),
    Column("exit_date", Date, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("pnl", Float, nullable=False),
    Column("return_pct", Float, nullable=False),
    Column("run_id", String(80), nullable=False),
)
paper_equity = Table(
    "paper_equity",
    metadata,
    Column("day", Date, primary_key=True),
    Column("equity", Float, nullable=False),
)
paper_runs = Table("paper_runs", metadata, Column("run_id", String(80), primary_key=True))
PAPER_TABLES = [paper_account, paper_positions, paper_trades, paper_equity, paper_runs]


class PaperAccount:
    """The paper book kept in the store: the tracker ``sync_with_paper_trading`` feeds.

    Each change loads the book, applies runs or closes and writes the whole book back in one
    transaction, so a crash leaves the previous state, never half an update. The book is small
    (positions, round trips, one equity point a day).
    """

    def __init__(self, engine: Engine, rules: PaperSettings) -> None:
        self.engine = engine
        self.trader = PaperTrader(rules)
        metadata.create_all(engine, tables=PAPER_TABLES)

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

    def apply_run(self, run: Mapping[str, Any]) -> list[str]:
        """Apply one result document (e.g. the latest one from the results API)."""
        book = self.load()
        done = self.trader.apply_run(book, run)
        self.save(book)
        return done

    async def update(self, market: MarketData, until: date) -> list[str]:
        """Apply the stored runs not yet applied, then mark to market with closes to ``until``.

        Closes already in the book (up to ``marked_through``) are not replayed, so running this
        any number of times gives the same book.
        """
        book = self.load()
        with self.engine.connect() as conn:
            stored = list(
                conn.execute(select(runs.c.document).where(runs.c.status != "failed")).scalars()
            )
        new_runs = [r for r in stored if r["run_id"] not in book.applied_runs]
        starts = [p.entry_date for p in book.positions.values()]
        starts += [_run_day(r) for r in new_runs]
        symbols = set(book.positions) | {
            s
            for r in new_runs
            for s, sig in (r.get("trading_signals") or {}).items()
            if sig.get("success")
        }
        closes: dict[str, list[tuple[date, float]]] = {}
        if starts:
            start = min(starts)
            if book.marked_through is not None:
                start = max(start, book.marked_through + timedelta(days=1))
            for symbol in sorted(symbols):
                try:
                    closes[symbol] = await market.closes_between(symbol, start, until)
                except MarketDataError as exc:
                    log.warning("paper: no closes for %s (%s)", symbol, exc)
        done = self.trader.replay(book, new_runs, closes)
        marked = [d for series in closes.values() for d, _ in series]
        if marked:
            book.marked_through = max([*marked, book.marked_through or min(marked)])
        self.save(book)
        return done

    def report(self) -> Report:
        return report(self.load(), self.trader.rules)
