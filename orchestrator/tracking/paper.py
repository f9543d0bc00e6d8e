"""Paper trading: follow the runs' signals with play money under fixed risk rules.

The rules are ``settings.paper`` (docs/ORIGIN.md section 5): $100k to start, a new position
costs at most 5% of equity, all open positions together at most 20% of equity, and only
BUY/SELL signals trade (the original rule's also need confidence >= 0.65; a calibrated
signal's action already required its probability and expected edge). BUY opens a long, SELL a
short. Orders under ``min_order_usd`` are not placed. Every fill pays ``cost_bps`` of its
notional (entry and exit), shown in the book.

Holding (``paper.holding``): ``session`` (default) trades what the signal predicts, the business
date's open to its close: filled at the open, closed at that session's close. ``hold`` is the
original rule: a position is closed at the first later close 8% against it (stop-loss) or 15%
in its favour (take-profit), or at the open after an opposite signal.

Sizing (``paper.sizing``): ``risk`` (default) spends ``equity * risk_per_trade_pct / sigma_oc``
(the signal's forecast sigma of its session) up to ``max_position_pct`` of equity, to equalise
the positions' risk; ``fixed``, and a signal without a risk forecast, ``max_position_pct``.

Fills: a pre-market run reads the news up to the run, so it cannot trade at the close it saw.
A run queues orders; each fills at the open of the first bar on or after the run's business
date (offline replays: that date's open in the price file; live: the first bar after the run).
The last run before the open replaces earlier orders for a symbol, and its HOLD (or a stale or
unconfident signal) cancels them. A stale signal never trades.
Stops are checked at each later close, so a gap through the stop closes there (the loss can
exceed 8%). The book is replayed day by day: the day's runs, its opens, then its closes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date

from orchestrator.documents.run import RunResult
from orchestrator.tracking.paper_book import Book, Order, Position, Side, Sizing, Trade
from premarket.sections import ORIGINAL_MIN_CONFIDENCE
from premarket.settings import PaperSettings


def _action_side(action: str) -> Side | None:
    word = (action or "").split(" ")[0].upper()
    return "LONG" if word == "BUY" else "SHORT" if word == "SELL" else None


Bar = tuple[date, float, float]
"""(day, open, close) of one symbol."""


class PaperTrader:
    """Applies runs, opens and closes to a ``Book`` under the paper-trading rules."""

    def __init__(self, rules: PaperSettings) -> None:
        self.rules = rules

    def new_book(self) -> Book:
        return Book(cash=self.rules.starting_cash)

    def fee(self, notional: float) -> float:
        """What one side of a trade of ``notional`` dollars costs (``cost_bps``)."""
        return abs(notional) * self.rules.cost_bps / 10_000.0

    def close(self, book: Book, symbol: str, price: float, day: date, reason: str) -> Trade:
        position = book.positions.pop(symbol)
        exit_fee = self.fee(position.quantity * price)
        pnl = position.pnl_at(price) - position.entry_cost - exit_fee
        book.cash += position.cost + position.pnl_at(price) - exit_fee
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
            return_pct=round(100.0 * pnl / position.cost, 6),
            run_id=position.run_id,
            sizing=position.sizing,
            costs=round(position.entry_cost + exit_fee, 6),
        )
        book.trades.append(trade)
        return trade

    def apply_run(self, book: Book, run: RunResult) -> list[str]:
        """Queue the orders of one run; returns what it queued, in words.

        A run is applied once (by ``run_id``). A fresh, confident BUY or SELL opens a position
        where none is held and closes one held the other way; a later run replaces a queued
        order of the same symbol.
        """
        if run.run_id in book.applied_runs:
            return []
        book.applied_runs.add(run.run_id)
        done = []
        for symbol, signal in sorted(run.signals.items(), key=lambda i: -i[1].confidence):
            side = _action_side(signal.action)
            gated = signal.confidence < self._floor(signal.calibrated)
            if side is None or signal.stale or gated:
                if (queued := book.pending.pop(symbol, None)) is not None:
                    done.append(f"cancelled {queued.action} {symbol}: the later run says HOLD")
                continue
            held = book.positions.get(symbol)
            if held is not None and held.side == side:
                book.pending.pop(symbol, None)
                continue
            action = "CLOSE" if held is not None else side
            sigma = signal.risk.sigma_oc if signal.risk is not None else None
            sizing = None if action == "CLOSE" else self._sizing(sigma)
            book.pending[symbol] = Order(
                symbol, action, run.business_date, signal.confidence, run.run_id, sigma, sizing
            )
            done.append(f"queued {action} {symbol} for the open of {run.business_date}")
        return done

    def fill(self, book: Book, symbol: str, day: date, price: float) -> str | None:
        """Fill ``symbol``'s queued order at ``price``, the open of ``day``, if it is due."""
        order = book.pending.get(symbol)
        if order is None or day < order.business_date:
            return None
        del book.pending[symbol]
        if order.action == "CLOSE":
            if symbol not in book.positions:
                return None
            trade = self.close(book, symbol, price, day, "signal")
            return f"closed {trade.side} {symbol} at {price:.2f} (opposite signal, at the open)"
        if symbol in book.positions:
            return None
        return self._open(book, order, price, day)

    def _floor(self, calibrated: bool) -> float:
        """The confidence a BUY/SELL needs: ``min_confidence`` when set; unset, 0.65 for the
        original rule and none for a calibrated signal (its action needed its probability)."""
        if self.rules.min_confidence is not None:
            return self.rules.min_confidence
        return 0.0 if calibrated else ORIGINAL_MIN_CONFIDENCE

    def _sizing(self, sigma_oc: float | None) -> Sizing:
        """``risk`` where the rules ask for it and the signal has a usable risk forecast."""
        usable = sigma_oc is not None and math.isfinite(sigma_oc) and sigma_oc > 0
        return "risk" if self.rules.sizing == "risk" and usable else "fixed"

    def notional(self, equity: float, sizing: Sizing, sigma_oc: float | None) -> float:
        """What one new position may cost before the total-risk cap and the cash: the
        ``max_position_pct`` cap, or less under ``risk`` sizing on a volatile session."""
        cap = self.rules.max_position_pct * equity
        if sizing == "fixed" or sigma_oc is None:
            return cap
        return min(cap, equity * self.rules.risk_per_trade_pct / sigma_oc)

    def _open(self, book: Book, order: Order, price: float, day: date) -> str | None:
        equity = book.equity
        sizing: Sizing = "risk" if order.sizing == "risk" and order.sigma_oc else "fixed"
        budget = min(
            self.notional(equity, sizing, order.sigma_oc),
            self.rules.max_total_risk_pct * equity - book.exposure,
            book.cash,
        )
        quantity = math.floor(budget / price) if budget > 0 else 0
        if quantity < 1 or quantity * price < self.rules.min_order_usd:
            return None
        side = order.action
        fee = self.fee(quantity * price)
        book.positions[order.symbol] = Position(
            order.symbol, side, quantity, price, day, order.run_id, price, sizing=sizing,
            entry_cost=round(fee, 6),
        )  # fmt: skip
        book.cash -= quantity * price + fee
        how = f" (risk-sized, sigma {100 * order.sigma_oc:.2f}%)" if sizing == "risk" else ""
        return f"opened {side} {quantity} {order.symbol} at {price:.2f}{how}"

    def mark(self, book: Book, symbol: str, day: date, close: float) -> Trade | None:
        """Mark one position with a close: the end of a session trade, or (``hold``) a check of
        the stop-loss and take-profit."""
        position = book.positions.get(symbol)
        if position is None or day < position.entry_date:
            return None
        if position.last_date is not None and day <= position.last_date:
            return None
        if self.rules.holding == "session":  # the open-to-close trade ends at its close
            return self.close(book, symbol, close, day, "session")
        change = position.return_at(close)
        if change <= -self.rules.stop_loss_pct:
            return self.close(book, symbol, close, day, "stop_loss")
        if change >= self.rules.take_profit_pct:
            return self.close(book, symbol, close, day, "take_profit")
        position.last_price, position.last_date = close, day
        return None

    def replay(
        self, book: Book, runs: Iterable[RunResult], bars: Mapping[str, Iterable[Bar]]
    ) -> list[str]:
        """Apply runs and bars day by day: the day's runs, then its opens (the most confident
        orders first, so they get the risk budget when it runs short), then its closes. After
        each day's closes its equity is recorded, once: a day replayed again for a symbol whose
        bars came late keeps the equity it had (the curve of the drawdown and Sharpe ratio)."""
        runs_of: dict[date, list[RunResult]] = defaultdict(list)
        for run in runs:
            runs_of[run.business_date].append(run)
        bars_of: dict[date, dict[str, tuple[float, float]]] = defaultdict(dict)
        for symbol, series in bars.items():
            for day, opened, closed in series:
                bars_of[day][symbol] = (opened, closed)
        done: list[str] = []
        recorded = max(book.equity_curve, default=None)
        for day in sorted(set(runs_of) | set(bars_of)):
            for run in sorted(runs_of[day], key=lambda r: r.started_at):
                done.extend(self.apply_run(book, run))
            today = bars_of[day]
            for symbol in sorted(today, key=lambda s: -_confidence(book, s)):
                if (filled := self.fill(book, symbol, day, today[symbol][0])) is not None:
                    done.append(filled)
            for symbol in sorted(today):
                trade = self.mark(book, symbol, day, today[symbol][1])
                if trade is not None:
                    done.append(
                        f"{trade.reason.replace('_', '-')}: closed {trade.side} {trade.symbol} "
                        f"at {trade.exit_price:.2f} ({trade.return_pct:+.2f}%)"
                    )
            if today and (recorded is None or day > recorded):  # a day's equity is kept as
                book.equity_curve[day] = round(book.equity, 6)  # it was: a late symbol's
                recorded = day  # bars never rewrite the curve with today's equity
        return done


def _confidence(book: Book, symbol: str) -> float:
    order = book.pending.get(symbol)
    return order.confidence if order is not None else 0.0
