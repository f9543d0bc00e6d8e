"""The paper book's records: positions, round trips, queued orders and the book itself.

``PaperTrader`` (``tracking.paper``) changes them under the rules; ``PaperAccount``
(``tracking.paper_account``) keeps them in the store, one table each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Side = Literal["LONG", "SHORT"]
Sizing = Literal["risk", "fixed"]


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
    sizing: Sizing = "fixed"
    entry_cost: float = 0.0
    """What the entry cost in fees (``paper.cost_bps`` of its notional), already paid."""

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
    reason: Literal["session", "stop_loss", "take_profit", "signal"]
    """``session``: the open-to-close trade closed at its session's close (the default)."""
    pnl: float
    """After costs."""
    return_pct: float
    """Of the entry notional, after costs."""
    run_id: str
    sizing: Sizing = "fixed"
    costs: float = 0.0
    """Fees of the round trip, entry and exit (``paper.cost_bps`` per side)."""


@dataclass(frozen=True)
class Order:
    """An order a run queued, filled at the first open on or after ``business_date``."""

    symbol: str
    action: Literal["LONG", "SHORT", "CLOSE"]
    business_date: date
    confidence: float
    run_id: str
    sigma_oc: float | None = None
    """The signal's forecast sigma of its session (``risk.sigma_oc``); None: no forecast."""
    sizing: Sizing | None = None
    """How a LONG/SHORT is sized (None: a CLOSE, or queued before sizing was recorded: fixed)."""


@dataclass
class Book:
    """The whole paper account."""

    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    equity_curve: dict[date, float] = field(default_factory=dict)
    applied_runs: set[str] = field(default_factory=set)
    marked_through: date | None = None
    """Books from before per-symbol marks: every symbol's bars up to here were applied."""
    marks: dict[str, date] = field(default_factory=dict)
    """Per symbol: its bars up to this date are in the book. Kept per symbol so one symbol's
    failed price fetch never moves another past its bars (or itself past its own)."""
    pending: dict[str, Order] = field(default_factory=dict)

    def marked(self, symbol: str) -> date | None:
        return self.marks.get(symbol, self.marked_through)

    @property
    def costs(self) -> float:
        """Fees paid so far: closed round trips and open positions' entries."""
        return sum(t.costs for t in self.trades) + sum(
            p.entry_cost for p in self.positions.values()
        )

    @property
    def exposure(self) -> float:
        return sum(p.cost for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.cash + sum(p.market_value for p in self.positions.values())
