"""Alerts and paper floors that can fire (issue 27, item 11): defaults per signal mode, a set
floor applies to calibrated signals too, and a stale signal never alerts."""

from __future__ import annotations

from datetime import date

import run_documents as documents

from orchestrator.documents.run import SymbolSignal
from orchestrator.notify.messages import alert_threshold, signal_alerts
from orchestrator.tracking.paper import PaperTrader
from premarket.settings import PaperSettings, Settings


def calibrated(confidence: float, *, stale: bool = False, action: str = "BUY WEAK") -> dict:
    doc = documents.signal(100.0, action=action, confidence=confidence, data_as_of="2024-07-01")
    return doc | {"calibrated": True, "probability_up": confidence, "stale": stale}


def test_the_default_threshold_follows_the_signal_mode() -> None:
    assert alert_threshold(Settings()) == 0.5  # calibrated: 0.85 could never be reached
    assert alert_threshold(Settings(signal={"mode": "original"})) == 0.85
    assert alert_threshold(Settings(alerts={"confidence_threshold": 0.7})) == 0.7


def test_a_calibrated_buy_alerts_by_default_and_a_stale_one_never() -> None:
    signals = {
        "AAPL": SymbolSignal.model_validate(calibrated(0.56)),
        "MSFT": SymbolSignal.model_validate(calibrated(0.58, stale=True)),
        "XOM": SymbolSignal.model_validate(calibrated(0.51, action="HOLD NEUTRAL")),
    }
    alerts = signal_alerts(signals, alert_threshold(Settings()))
    assert [a.symbol for a in alerts] == ["AAPL"]


def test_paper_floor_per_mode_and_a_set_floor_binds_both() -> None:
    day = date(2024, 7, 2)
    run = documents.make_run(
        "r1", day.isoformat(), "2024-07-02T10:30:00.000Z",
        signals={
            "AAPL": calibrated(0.56),  # a calibrated BUY WEAK: its action needed ~54%
            "MSFT": documents.signal(100.0, action="BUY WEAK", confidence=0.6),  # original rule
        },
    )  # fmt: skip
    default = PaperTrader(PaperSettings())
    book = default.new_book()
    default.apply_run(book, run)
    assert set(book.pending) == {"AAPL"}  # 0.6 is under the original rule's 0.65
    strict = PaperTrader(PaperSettings(min_confidence=0.57))
    book = strict.new_book()
    strict.apply_run(book, run)
    assert set(book.pending) == {"MSFT"}  # set, it binds the calibrated signal too (0.56)
