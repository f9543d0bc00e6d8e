"""End to end against real ``bentoml serve`` processes: the chain falls back tier by tier.

Uses the session fixture ``services`` of tests/conftest.py (the three services on loopback,
each stoppable on its own).
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from orchestrator_stubs import make_settings

from orchestrator.jobs.analysis import run_analysis
from orchestrator.storage.store import Store
from premarket.data import DEMO_AS_OF

pytestmark = pytest.mark.slow
AS_OF = date.fromisoformat(DEMO_AS_OF)
SYMBOLS = ["MSFT", "TSLA", "AAPL"]


def settings_for(tmp_path: Path, services, **overrides):
    urls = services.urls
    settings = make_settings(tmp_path, urls["tft"], urls["nhits"], urls["sentiment"], **overrides)
    for target in (settings.tft, settings.nhits, settings.sentiment):
        target.timeout_s = 30.0  # two busy cores: a cold batch can be slow, a refusal is not
    return settings


def analyze(settings) -> dict:
    return asyncio.run(
        run_analysis(settings, symbols=SYMBOLS, as_of=AS_OF, offline=True)
    ).to_document()


def test_all_services_up_the_primary_answers(tmp_path: Path, services) -> None:
    settings = settings_for(tmp_path, services)
    doc = analyze(settings)
    assert doc["status"] == "ok", doc["errors"]
    assert doc["performance_metrics"]["tier_counts"]["tft"] == len(SYMBOLS)
    for symbol in SYMBOLS:
        signal = doc["trading_signals"][symbol]
        price = signal["components"]["price_prediction"]
        assert price["model_used"] == "TFT (Primary)" and price["fallback_reason"] is None
        assert 0 <= price["confidence"] <= 1 and 0 <= signal["confidence"] <= 1
        assert price["quantiles"]["p10"] <= price["quantiles"]["p50"] <= price["quantiles"]["p90"]
        assert signal["current_price"] == pytest.approx(price["forecast_path"][0], rel=0.25)
        risk = signal["risk"]  # today's expected move rides with every signal, whatever the tier
        assert 0.002 < risk["sigma_oc"] < 0.2 and risk["p10"] < 0 < risk["p90"]
        assert risk["expected_move_pct"] == pytest.approx(100 * risk["sigma_oc"], abs=1e-3)
        assert risk["range_hl"] > risk["sigma_oc"] and risk["own_har"]
    news = doc["trading_signals"]["MSFT"]["components"]["sentiment_analysis"]
    assert news["source"] in ("model", "lexicon") and news["article_count"] >= 1
    assert -1 <= news["signal"] <= 1
    store = Store(settings.database_url)
    try:
        assert store.run_for_date(date(2022, 9, 21)).run_id == doc["run_id"]
    finally:
        store.close()


def test_the_envelope_dialect_reaches_the_same_services(tmp_path: Path, services) -> None:
    settings = settings_for(tmp_path, services)
    settings.tft.url = services.urls["tft"] + "/api/v1/models/premarket/tft"
    settings.tft.dialect = "modelscope"
    settings.sentiment.dialect = "modelscope"
    doc = analyze(settings)
    assert doc["performance_metrics"]["tier_counts"]["tft"] == len(SYMBOLS), doc["errors"]
    news = doc["trading_signals"]["MSFT"]["components"]["sentiment_analysis"]
    assert news["source"] in ("model", "lexicon")


def test_tft_stopped_nhits_answers_both_stopped_statistical(tmp_path: Path, services) -> None:
    settings = settings_for(tmp_path, services)
    with services.stopped("tft"):
        doc = analyze(settings)
        assert doc["performance_metrics"]["tier_counts"]["nhits"] == len(SYMBOLS), doc["errors"]
        price = doc["trading_signals"]["MSFT"]["components"]["price_prediction"]
        assert price["model_used"] == "N-HITS (Backup)"
        assert price["fallback_reason"].startswith("unreachable: tft: cannot connect")
        assert [a["symbol"] for a in doc["alerts"] if a["level"] == "SERVICE_UNREACHABLE"] == [
            "tft"
        ]
        with services.stopped("nhits"):
            doc = analyze(settings)
            assert doc["status"] == "ok"
            assert doc["performance_metrics"]["tier_counts"]["statistical"] == len(SYMBOLS)
            price = doc["trading_signals"]["TSLA"]["components"]["price_prediction"]
            assert price["model_used"] == "Statistical (Fallback)"
            # The TFT breaker opened in the run before: it is skipped without a call now.
            assert "tft: circuit open" in price["fallback_reason"]
            assert "nhits: cannot connect" in price["fallback_reason"]
