"""Faults during a run: the run completes for every symbol it can, says per symbol what happened,
is stored whole, and alerts about each failure once.

Real processes and sockets: the session's ``bentoml serve`` processes (tests/conftest.py) serve
TFT, N-HITS and sentiment; a faulty service is a loopback stand-in replaying the wire format
(tests/orchestrator_stubs.py) or a port nothing listens on; the TFT crash is a SIGKILL of its
real process group in the middle of a run. Alerts go to a loopback Slack stand-in; signal alerts
are switched off (threshold 1.0) so every message it receives is about a failure.
"""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import date
from pathlib import Path

import pytest
from orchestrator_stubs import ModelStub, Recorder, make_settings
from pydantic import SecretStr

from orchestrator.forecast.targets import TargetClient
from orchestrator.jobs.analysis import run_analysis
from orchestrator.storage.store import Store
from premarket.data import DEMO_AS_OF, PRICES_CSV
from serving.launch import free_port

pytestmark = pytest.mark.slow

AS_OF = date.fromisoformat(DEMO_AS_OF)
BUSINESS_DATE = date(2022, 9, 21)  # the NYSE session after DEMO_AS_OF
SYMBOLS = ["MSFT", "TSLA", "AAPL", "AMZN"]
SLACK_PATH = "/services/T0FAULTS/B0FAULTS/slack-secret-path"


@pytest.fixture
def slack():
    recorder = Recorder()
    yield recorder
    recorder.stop()


def nothing_listens() -> str:
    """A loopback URL whose connections are refused: a service that is down."""
    return f"http://127.0.0.1:{free_port()}"


def settings_for(tmp_path: Path, services, slack: Recorder, **urls: str):
    url = {**services.urls, **urls}
    settings = make_settings(tmp_path, url["tft"], url["nhits"], url["sentiment"])
    for target in (settings.tft, settings.nhits, settings.sentiment):
        target.timeout_s = 30.0  # two busy cores: a cold batch can be slow, a refusal is not
    settings.alerts.slack_webhook_url = SecretStr(slack.url + SLACK_PATH)
    settings.alerts.confidence_threshold = 1.0  # no signal alerts: only failures alert
    settings.alerts.backoff_s = 0.01
    return settings


def analyze(settings, symbols: list[str] = SYMBOLS) -> dict:
    return asyncio.run(
        run_analysis(settings, symbols=symbols, as_of=AS_OF, offline=True)
    ).to_document()


def price(doc: dict, symbol: str) -> dict:
    return doc["trading_signals"][symbol]["components"]["price_prediction"]


def news(doc: dict, symbol: str) -> dict:
    return doc["trading_signals"][symbol]["components"]["sentiment_analysis"]


def check_stored_whole(settings, doc: dict) -> None:
    """The stored document is the returned one, with one forecast row per analysed symbol."""
    store = Store(settings.database_url)
    try:
        assert store.run_for_date(BUSINESS_DATE).to_document() == json.loads(json.dumps(doc))
        rows = [r for r in store.forecasts() if r["run_id"] == doc["run_id"]]
    finally:
        store.close()
    analysed = {s for s, v in doc["trading_signals"].items() if v["success"]}
    assert {r["symbol"] for r in rows} == analysed and len(rows) == len(analysed)
    for row in rows:
        assert row["tier"] == price(doc, row["symbol"])["tier"]
        assert row["model_used"] == price(doc, row["symbol"])["model_used"]


def check_alerted_once(doc: dict, slack: Recorder, expected: dict[str, str]) -> None:
    """One delivered alert per failure (``expected``: alert subject -> words of its message),
    whatever the number of symbols and retries that met it."""
    failures = [a for a in doc["alerts"] if a["level"] != "HIGH_CONFIDENCE"]
    assert sorted(a["symbol"] for a in failures) == sorted(expected), failures
    assert all(a["delivered"] == ["slack"] and not a["duplicate"] for a in failures)
    texts = [m["text"] for m in slack.received]
    assert len(texts) == len(expected), texts
    for subject, words in expected.items():
        assert sum(words in t for t in texts) == 1, (subject, words, texts)


def test_tft_killed_mid_run_the_rest_fall_back_to_nhits(tmp_path, services, slack, monkeypatch):
    """The TFT process group is SIGKILLed after two of four symbols were forecast."""
    settings = settings_for(tmp_path, services, slack)
    settings.chain.concurrency = 1  # one symbol at a time, in order, so the kill lands mid-run
    original = TargetClient.forecast
    tft_calls: list[str] = []

    async def forecast(self: TargetClient, bars, *args):
        if self.name == "tft":
            tft_calls.append(bars.symbol)
            if len(tft_calls) == 3:
                services.kill("tft")  # returns once every process of the tree is gone
        return await original(self, bars, *args)

    monkeypatch.setattr(TargetClient, "forecast", forecast)
    try:
        doc = analyze(settings)
    finally:
        services.restart("tft")

    assert doc["status"] == "ok", doc["errors"]
    tiers = [price(doc, s)["tier"] for s in SYMBOLS]
    assert tiers == ["tft", "tft", "nhits", "nhits"]
    for symbol in SYMBOLS[:2]:
        assert price(doc, symbol)["model_used"] == "TFT (Primary)"
        assert price(doc, symbol)["fallback_reason"] is None
    for symbol in SYMBOLS[2:]:
        p = price(doc, symbol)
        assert p["model_used"] == "N-HITS (Backup)"
        # Refused, or a pooled connection found closed: either way the TFT is unreachable.
        assert p["fallback_reason"].startswith("unreachable: tft: "), p["fallback_reason"]
        assert [c["target"] for c in p["calls"]] == ["tft", "nhits"]
        assert p["calls"][0]["outcome"] == "unreachable" and p["calls"][1]["outcome"] == "ok"
    assert doc["performance_metrics"]["tier_counts"]["nhits"] == 2
    check_stored_whole(settings, doc)
    check_alerted_once(doc, slack, {"tft": "Service unreachable: tft"})


def test_both_forecast_services_down_the_statistical_tier_answers(tmp_path, services, slack):
    settings = settings_for(
        tmp_path, services, slack, tft=nothing_listens(), nhits=nothing_listens()
    )
    doc = analyze(settings)
    assert doc["status"] == "ok", doc["errors"]
    for symbol in SYMBOLS:
        p = price(doc, symbol)
        assert p["tier"] == "statistical" and p["model_used"] == "Statistical (Fallback)"
        assert "tft: " in p["fallback_reason"] and "nhits: " in p["fallback_reason"]
        assert 0.0 <= p["confidence"] <= 1.0
        assert news(doc, symbol)["source"] in ("model", "lexicon")  # sentiment still served
    assert doc["breakers"]["tft"]["state"] == doc["breakers"]["nhits"]["state"] == "open"
    check_stored_whole(settings, doc)
    check_alerted_once(
        doc, slack, {"tft": "Service unreachable: tft", "nhits": "Service unreachable: nhits"}
    )

    # The next slot of the morning: breakers skip both without a call, nothing alerts again.
    again = analyze(settings)
    assert all("circuit open" in price(again, s)["fallback_reason"] for s in SYMBOLS)
    assert all(a["duplicate"] for a in again["alerts"]) and len(slack.received) == 2


def test_a_sentiment_service_hanging_past_its_timeout(tmp_path, services, slack):
    hanging = ModelStub("sentiment")
    hanging.hang_s = 5.0
    hanging.faults = ["hang"] * 20
    try:
        settings = settings_for(tmp_path, services, slack, sentiment=hanging.url)
        settings.sentiment.timeout_s = 0.5
        doc = analyze(settings)
    finally:
        hanging.stop()
    assert doc["status"] == "ok", doc["errors"]
    # Two tries cut off at 0.5 s each, not two answers after the 5 s hang (a logical bound,
    # with room for a loaded machine, not a race against the wall clock).
    assert doc["performance_metrics"]["latency_ms"]["sentiment_ms"] < 1000 * hanging.hang_s
    assert len(hanging.requests) == settings.chain.retries + 1  # one batch for all symbols
    for symbol in SYMBOLS:
        assert price(doc, symbol)["tier"] == "tft"
        n = news(doc, symbol)
        assert n["source"] == "unavailable" and "no answer within 0.5 s" in n["error"]
        assert doc["trading_signals"][symbol]["reasoning"].endswith(
            "(sentiment service unavailable)"
        )
    check_stored_whole(settings, doc)
    check_alerted_once(doc, slack, {"sentiment": "Service unreachable: sentiment: no answer"})


FAULTS = {
    500: ("server", "HTTP 500: injected 500 (after 2 tries)"),
    "garbage": ("invalid_answer", "HTTP 200, answer is not JSON"),
    "schema": ("invalid_answer", ""),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_primary_answering_errors_garbage_or_a_wrong_schema(tmp_path, services, slack, fault):
    stub = ModelStub("forecast", "TFT (Primary)")
    stub.faults = [fault] * 100
    try:
        settings = settings_for(tmp_path, services, slack, tft=stub.url)
        doc = analyze(settings)
    finally:
        stub.stop()
    outcome, words = FAULTS[fault]
    words = words or "answer breaks the protocol (model_used: Field required)"
    assert doc["status"] == "ok", doc["errors"]
    for symbol in SYMBOLS:
        p = price(doc, symbol)
        assert p["tier"] == "nhits" and p["model_used"] == "N-HITS (Backup)"
        assert p["fallback_reason"] == f"{outcome}: tft: {words}"
        assert p["calls"][0] == {**p["calls"][0], "target": "tft", "outcome": outcome}
    # Transient errors are retried, broken answers are not: per symbol 2 tries or 1.
    assert len(stub.requests) == len(SYMBOLS) * (2 if fault == 500 else 1)
    check_stored_whole(settings, doc)
    check_alerted_once(doc, slack, {"tft": f"Service unreachable: tft: {words}"})


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_sentiment_service_answering_errors_garbage_or_a_wrong_schema(
    tmp_path, services, slack, fault
):
    stub = ModelStub("sentiment")
    stub.faults = [fault] * 100
    try:
        settings = settings_for(tmp_path, services, slack, sentiment=stub.url)
        doc = analyze(settings)
    finally:
        stub.stop()
    words = {
        500: "sentiment: HTTP 500: injected 500 (after 2 tries)",
        "garbage": "sentiment: HTTP 200, answer is not JSON",
        "schema": "sentiment: expected ",  # ... one answer per article
    }[fault]
    assert doc["status"] == "ok", doc["errors"]
    for symbol in SYMBOLS:
        assert price(doc, symbol)["tier"] == "tft"  # forecasts are unaffected
        n = news(doc, symbol)
        assert n["source"] == "unavailable" and words in n["error"] and n["signal"] == 0.0
    assert [e["stage"] for e in doc["errors"]] == ["sentiment"]
    check_stored_whole(settings, doc)
    check_alerted_once(doc, slack, {"sentiment": f"Service unreachable: {words}"})


def test_market_data_missing_for_one_symbol(tmp_path, services, slack):
    prices = tmp_path / "prices.csv"
    with PRICES_CSV.open(newline="") as src, prices.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, reader.fieldnames or [])
        writer.writeheader()
        writer.writerows(row for row in reader if row["symbol"] != "TSLA")
    settings = settings_for(tmp_path, services, slack)
    settings.prices_csv = prices
    doc = analyze(settings)
    assert doc["status"] == "partial"
    assert doc["trading_signals"]["TSLA"] == {"success": False, "error": "TSLA: not in prices.csv"}
    assert doc["errors"] == [
        {"symbol": "TSLA", "stage": "market_data", "error": "TSLA: not in prices.csv"}
    ]
    for symbol in ("MSFT", "AAPL", "AMZN"):
        assert price(doc, symbol)["tier"] == "tft"
    assert doc["performance_metrics"]["successful_analyses"] == 3
    check_stored_whole(settings, doc)
    check_alerted_once(doc, slack, {"TSLA": "Not analysed: TSLA: not in prices.csv"})

    again = analyze(settings)  # the next slot: still missing, not alerted twice
    assert [a["duplicate"] for a in again["alerts"]] == [True] and len(slack.received) == 1


def test_the_alert_channel_down_loses_no_alert(tmp_path, services, slack):
    """Every channel down: the run completes and is stored, the delivery errors are recorded
    (without the secret URLs), and the next run delivers the alert, once."""
    hook = Recorder(statuses=[500] * 3)  # fails the first run's three tries, then recovers
    try:
        settings = settings_for(tmp_path, services, slack, tft=nothing_listens())
        live_slack = settings.alerts.slack_webhook_url
        settings.alerts.slack_webhook_url = SecretStr(nothing_listens() + SLACK_PATH)
        settings.alerts.webhook_url = SecretStr(hook.url + "/hook/webhook-secret")
        doc = analyze(settings, ["MSFT"])
        assert doc["status"] == "ok" and price(doc, "MSFT")["tier"] == "nhits"
        (alert,) = doc["alerts"]
        assert alert["delivered"] == [] and not alert["duplicate"]
        assert alert["errors"] == {
            "slack": "slack: ConnectError (after 3 tries)",
            "webhook": "webhook: HTTP 500 (after 3 tries)",
        }
        check_stored_whole(settings, doc)
        assert "secret" not in json.dumps(doc)

        settings.alerts.slack_webhook_url = live_slack  # the channels are back
        later = analyze(settings, ["MSFT"])
        (alert,) = later["alerts"]
        assert sorted(alert["delivered"]) == ["slack", "webhook"]
        assert len(slack.received) == 1 and len(hook.received) == 1
        last = analyze(settings, ["MSFT"])
        assert [a["duplicate"] for a in last["alerts"]] == [True] and len(slack.received) == 1
    finally:
        hook.stop()
