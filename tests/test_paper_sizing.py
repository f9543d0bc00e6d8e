"""Paper trading sizes each new position by today's risk (issue 26, item 5): notional =
equity * risk_per_trade_pct / sigma_oc, within the max_position_pct cap; ``sizing = "fixed"``
and signals without a risk forecast keep the fixed rule; orders, positions and trades in the
store say which sizing was used."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
import run_documents as documents
from pydantic import ValidationError

from orchestrator.data.market import OfflineMarketData
from orchestrator.documents.run import RunResult
from orchestrator.storage.store import Store
from orchestrator.tracking.paper import PaperTrader
from orchestrator.tracking.paper_account import PaperAccount
from premarket.settings import PaperSettings, SettingsError, load_settings

HOLD = {"holding": "hold", "cost_bps": 0.0}
"""The original holding rule without fees: sizing is what these tests pin down (session trades
and costs have their own, tests/test_paper_session.py)."""

D1, D2 = date(2024, 7, 1), date(2024, 7, 2)


def risk(sigma_oc: float, normal: float = 0.015) -> dict:
    """A ``RiskForecast`` document with the given forecast sigma of the session."""
    return {
        "sigma_oc": sigma_oc,
        "expected_move_pct": 100 * sigma_oc,
        "range_hl": 1.54 * sigma_oc,
        "p10": -1.21 * sigma_oc,
        "p90": 1.23 * sigma_oc,
        "normal_sigma_oc": normal,
        "ratio": sigma_oc / normal,
        "high_risk": sigma_oc / normal >= 1.5,
        "own_har": True,
        "model_version": "risk:test",
    }


def signal(price: float, sigma_oc: float | None, action: str = "BUY STRONG", **kw) -> dict:
    document = documents.signal(price, action=action, confidence=kw.pop("confidence", 0.8), **kw)
    return document | ({"risk": risk(sigma_oc)} if sigma_oc is not None else {})


def run(run_id: str, day: date, **signals: dict) -> RunResult:
    return documents.make_run(
        run_id, day.isoformat(), f"{day.isoformat()}T10:30:00.000Z", signals=signals
    )


def opened(rules: PaperSettings, **signals: dict):
    """Replay one morning whose symbols all open (and close) at their signal's price."""
    trader = PaperTrader(rules)
    book = trader.new_book()
    prices = {s: [(D1, d["current_price"], d["current_price"])] for s, d in signals.items()}
    events = trader.replay(book, [run("r1", D1, **signals)], prices)
    return book, events


def test_a_high_risk_symbol_gets_a_smaller_position_than_a_calm_one() -> None:
    book, events = opened(
        PaperSettings(**HOLD),
        CALM=signal(100.0, 0.012, confidence=0.8),
        HOT=signal(100.0, 0.04, confidence=0.8),  # 2.7x its normal: HIGH_RISK
    )
    calm, hot = book.positions["CALM"], book.positions["HOT"]
    assert hot.quantity < calm.quantity
    assert hot.quantity * 100.0 * 0.04 == pytest.approx(calm.quantity * 100.0 * 0.012, rel=0.03)
    assert (calm.quantity, hot.quantity) == (41, 12)  # $4,166.67 and $1,250 of $100k
    assert calm.sizing == hot.sizing == "risk"
    assert "opened LONG 12 HOT at 100.00 (risk-sized, sigma 4.00%)" in events


@pytest.mark.parametrize(
    ("sigma_oc", "shares"),
    [
        (0.02, 25),  # 100k * 0.0005 / 0.02 = $2,500: under the 5% cap
        (0.0125, 40),  # $4,000
        (0.008, 50),  # $6,250 is over the cap: $5,000
        (0.002, 50),  # $25,000: the cap
        (0.06, 8),  # $833.33: 8 shares (min_order_usd is 0 here)
    ],
)
def test_the_size_is_the_risk_budget_under_the_cap_and_the_cap_over_it(
    sigma_oc: float, shares: int
) -> None:
    rules = PaperSettings(**HOLD, min_order_usd=0.0)
    trader = PaperTrader(rules)
    expected = min(0.05 * 100_000, 100_000 * rules.risk_per_trade_pct / sigma_oc)
    assert trader.notional(100_000.0, "risk", sigma_oc) == pytest.approx(expected)
    book, _ = opened(rules, AAPL=signal(100.0, sigma_oc))
    assert book.positions["AAPL"].quantity == shares


def test_the_risk_budget_follows_the_setting_and_equity() -> None:
    rules = PaperSettings(**HOLD, risk_per_trade_pct=0.0002, max_position_pct=0.5)
    trader = PaperTrader(rules)
    assert trader.notional(250_000.0, "risk", 0.01) == pytest.approx(5_000.0)
    assert trader.notional(250_000.0, "fixed", 0.01) == pytest.approx(125_000.0)


def test_a_risk_size_under_the_minimum_order_is_not_placed() -> None:
    book, _ = opened(PaperSettings(**HOLD), WILD=signal(100.0, 0.10))  # $500 < $1,000
    assert book.positions == {} and book.pending == {}


def test_the_total_risk_cap_still_binds_risk_sized_positions() -> None:
    rules = PaperSettings(**HOLD, max_total_risk_pct=0.06, min_order_usd=0.0)
    book, _ = opened(
        rules,
        A=signal(100.0, 0.0125, confidence=0.9),  # $4,000
        B=signal(100.0, 0.0125, confidence=0.8),  # $4,000 wanted, $2,000 of the cap left
    )
    assert (book.positions["A"].quantity, book.positions["B"].quantity) == (40, 20)


def test_fixed_sizing_reproduces_todays_sizes() -> None:
    signals = {
        "CALM": signal(100.0, 0.012, confidence=0.9),
        "HOT": signal(200.0, 0.04, confidence=0.8),
    }
    fixed, _ = opened(PaperSettings(**HOLD, sizing="fixed"), **signals)
    without_risk = {s: d | {"risk": None} for s, d in signals.items()}
    today, _ = opened(PaperSettings(**HOLD, sizing="fixed"), **without_risk)
    assert {s: p.quantity for s, p in fixed.positions.items()} == {"CALM": 50, "HOT": 25}
    assert fixed.positions == today.positions
    assert {p.sizing for p in fixed.positions.values()} == {"fixed"}


def test_a_signal_without_risk_is_sized_by_the_fixed_rule() -> None:
    rules = PaperSettings(**HOLD)
    assert rules.sizing == "risk"
    trader = PaperTrader(rules)
    book = trader.new_book()
    trader.apply_run(book, run("r1", D1, OLD=signal(100.0, None), NEW=signal(100.0, 0.02)))
    assert (book.pending["OLD"].sizing, book.pending["OLD"].sigma_oc) == ("fixed", None)
    assert (book.pending["NEW"].sizing, book.pending["NEW"].sigma_oc) == ("risk", 0.02)
    events = trader.replay(book, [], {s: [(D1, 100.0, 100.0)] for s in ("OLD", "NEW")})
    assert (book.positions["OLD"].quantity, book.positions["OLD"].sizing) == (50, "fixed")
    assert (book.positions["NEW"].quantity, book.positions["NEW"].sizing) == (25, "risk")
    assert "opened LONG 50 OLD at 100.00" in events


def test_the_store_keeps_the_sizing_of_orders_positions_and_trades(
    tmp_path: Path, database_url: str
) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "symbol,date,open,high,low,close,adj_close,volume\n"
        + "".join(
            f"{s},2024-07-0{d},{o},{max(o, c)},{min(o, c)},{c},{c},1000\n"
            for s, rows in {"AAPL": [(1, 100, 100), (2, 100, 104), (3, 104, 90)]}.items()
            for d, o, c in rows
        )
        + "".join(f"MSFT,2024-07-0{d},400,400,400,400,400,1000\n" for d in (1, 2, 3))
    )
    store = Store(database_url)
    try:
        signals = {"AAPL": signal(100.0, 0.02), "MSFT": signal(400.0, None)}
        store.save_run(
            documents.make_run(
                "run_0702", "2024-07-02", "2024-07-02T10:30:00.000Z", signals=signals
            )
        )
        account = PaperAccount(store.engine, PaperSettings(**HOLD))
        market = OfflineMarketData(prices)
        asyncio.run(account.update(market, until=D1))  # queued, not yet filled
        orders = {o.symbol: o for o in account.load().pending.values()}
        assert (orders["AAPL"].sizing, orders["AAPL"].sigma_oc) == ("risk", 0.02)
        assert (orders["MSFT"].sizing, orders["MSFT"].sigma_oc) == ("fixed", None)

        asyncio.run(account.update(market, until=D2))
        book = account.load()
        assert {s: (p.quantity, p.sizing) for s, p in book.positions.items()} == {
            "AAPL": (25, "risk"),
            "MSFT": (12, "fixed"),
        }
        asyncio.run(account.update(market, until=date(2024, 7, 3)))  # AAPL 104 -> 90: stop
        (trade,) = account.load().trades
        assert (trade.symbol, trade.reason, trade.sizing) == ("AAPL", "stop_loss", "risk")
    finally:
        store.close()


def test_an_unknown_sizing_is_refused_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="'risk' or 'fixed'"):
        PaperSettings(sizing="kelly")
    with pytest.raises(ValidationError, match="greater than 0"):
        PaperSettings(risk_per_trade_pct=0)
    config = tmp_path / "premarket.toml"
    config.write_text('[paper]\nsizing = "kelly"\n')
    monkeypatch.setenv("PREMARKET_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"^invalid setting paper\.sizing: .*'risk' or 'fixed'"):
        load_settings()
    config.write_text('[paper]\nsizing = "fixed"\nrisk_per_trade_pct = 0.001\n')
    assert load_settings().paper.sizing == "fixed"
