"""The run against hung, slow and lying services (issue 17, items 1-4): each tier has its share of
the deadline, a timeout counts against the breaker, answers are checked before they are used, and
one symbol's broken data fails that symbol alone."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orchestrator_stubs as stubs
import pytest
from orchestrator_stubs import DEAD_URL, ModelStub, Recorder, YahooStub, make_settings
from pydantic import SecretStr

from orchestrator.common.retry import CallError
from orchestrator.data.market import Bars, OfflineMarketData
from orchestrator.forecast.answers import MAX_ANSWER_BYTES
from orchestrator.forecast.breaker import BreakerBoard
from orchestrator.forecast.targets import TargetClient
from orchestrator.jobs.analysis import run_analysis
from premarket.data import DEMO_AS_OF
from premarket.settings import Target

AS_OF = date.fromisoformat(DEMO_AS_OF)


@pytest.fixture(scope="module")
def bars() -> Bars:
    return asyncio.run(OfflineMarketData(as_of=AS_OF).history("MSFT", 90))


class Poisoned(ModelStub):
    """A forecast service whose next answers are rewritten by ``poisons`` (dict -> bytes)."""

    def __init__(self) -> None:
        self.poisons: list[Any] = []
        super().__init__("forecast", "TFT (Primary)", change=0.01, confidence=0.8)

    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, Any, str]:
        status, body, ctype = super().handle(method, path, raw)
        if self.poisons and status == 200:
            return status, self.poisons.pop(0)(body), ctype
        return status, body, ctype


@pytest.fixture
def tft():
    stub = Poisoned()
    yield stub
    stub.stop()


@pytest.fixture
def nhits():
    stub = ModelStub("forecast", "N-HITS (Backup)", change=-0.01, confidence=0.6)
    yield stub
    stub.stop()


forecast = stubs.chain_forecast


def _set(**fields: Any):
    def poison(answer: dict) -> bytes:
        return json.dumps({**answer, **fields}).encode()  # NaN and Infinity as JS literals

    return poison


def _reversed_quantiles(answer: dict) -> bytes:
    q = answer["quantiles"]
    return json.dumps({**answer, "quantiles": {**q, "p10": q["p90"] * 1.5}}).encode()


def _up_but_lower(answer: dict) -> bytes:
    lower = answer["current_price"] * 0.9
    return json.dumps({**answer, "predicted_price": lower, "direction": "UP"}).encode()


def _huge(answer: dict) -> bytes:
    return json.dumps({**answer, "padding": "x" * (MAX_ANSWER_BYTES + 10)}).encode()


@pytest.mark.parametrize(
    ("poison", "problem"),
    [
        (_set(predicted_price=math.nan), "NaN"),
        (_set(predicted_price=math.inf), "Infinity"),
        (_set(predicted_price=-1000.0, direction="DOWN"), "predicted_price is -1000"),
        (_set(predicted_price=1e9, direction="UP"), "fold away from the last close"),
        (_up_but_lower, "direction is UP but predicted_price"),
        (_reversed_quantiles, "quantiles: p10"),
        (_set(confidence=1.5), "confidence"),
        (_set(signal_score=1e308), "signal_score"),
        (_huge, "too large"),
    ],
)
def test_an_answer_that_makes_no_sense_goes_to_the_next_tier(
    tmp_path: Path, tft, nhits, bars: Bars, poison, problem: str
) -> None:
    settings = make_settings(tmp_path, tft.url, nhits.url, DEAD_URL)
    tft.poisons.append(poison)
    board = BreakerBoard(settings)
    outcome = forecast(settings, bars, board)
    assert outcome.tier == "nhits" and outcome.result.model_used == "N-HITS (Backup)"
    assert outcome.calls[0].outcome == "invalid_answer"
    assert outcome.fallback_reason.startswith("invalid_answer: tft: ")
    assert problem in outcome.fallback_reason
    assert board["tft"].failures == 1  # a lying service is a failing service
    assert math.isfinite(outcome.result.predicted_price) and outcome.result.predicted_price > 0


class _Streamer:
    """A raw HTTP server that answers 200 and then sends ``chunk`` every ``every_s`` seconds,
    ``count`` times (no Content-Length): a slow drip, or an endless answer."""

    def __init__(self, chunk: bytes, every_s: float, count: int) -> None:
        self.sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for _ in range(count):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        outer.sent += len(chunk)
                        time.sleep(every_s)
                except OSError:
                    pass  # the client hung up: what we want

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_drip_is_cut_off_by_the_whole_call_timeout(tmp_path: Path, nhits, bars) -> None:
    drip = _Streamer(b" ", every_s=0.1, count=600)  # one byte per 0.1 s: a read never times out
    try:
        settings = make_settings(tmp_path, drip.url, nhits.url, DEAD_URL, chain={"retries": 0})
        settings.tft = Target(url=drip.url, timeout_s=0.5)
        board = BreakerBoard(settings)
        outcome = forecast(settings, bars, board)
    finally:
        drip.stop()
    assert outcome.tier == "nhits"
    assert "tft: no answer within 0.5 s" in outcome.fallback_reason
    assert outcome.calls[0].latency_ms < 30_000  # the drip would last 60 s
    assert board["tft"].failures == 1


def test_an_endless_answer_is_read_only_up_to_the_cap(tmp_path: Path, nhits, bars) -> None:
    flood = _Streamer(b"[" * 65536, every_s=0.0, count=300 * 16)  # 300 MB if read whole
    try:
        settings = make_settings(tmp_path, flood.url, nhits.url, DEAD_URL)
        outcome = forecast(settings, bars)
    finally:
        flood.stop()
    assert outcome.tier == "nhits" and outcome.calls[0].outcome == "invalid_answer"
    assert f"larger than {MAX_ANSWER_BYTES} bytes" in outcome.fallback_reason
    assert flood.sent < 100 * 2**20  # the server could not push much beyond the cap


def test_ensemble_keeps_the_tft_answer_when_nhits_hangs(tmp_path: Path, tft, nhits, bars) -> None:
    settings = make_settings(
        tmp_path, tft.url, nhits.url, DEAD_URL, chain={"ensemble": True, "symbol_deadline_s": 3.0}
    )
    nhits.hang_s = 30.0
    nhits.faults += ["hang"] * 3
    outcome = forecast(settings, bars)
    assert outcome.tier == "tft" and outcome.result.model_used == "TFT (Primary)"
    (nhits_call,) = [c for c in outcome.calls if c.target == "nhits"]
    assert nhits_call.outcome == "unreachable" and "no answer within" in nhits_call.error


def test_poisoned_sentiment_scores_are_refused() -> None:
    class Liar(ModelStub):
        def handle(self, method: str, path: str, raw: bytes) -> tuple[int, Any, str]:
            answer = {"labels": ["positive", "negative", "neutral"], "scores": [1e308, 0, 0]}
            return 200, [answer], "application/json"

    stub = Liar("sentiment")
    try:

        async def go() -> None:
            async with httpx.AsyncClient() as http:
                await TargetClient("sentiment", Target(url=stub.url), http).sentiment(["a"])

        with pytest.raises(CallError) as info:
            asyncio.run(go())
    finally:
        stub.stop()
    assert info.value.kind == "invalid_answer" and "not a probability" in str(info.value)


def test_a_hung_primary_alerts_once_and_the_backup_answers(tmp_path: Path, tft, nhits) -> None:
    slack = Recorder()
    sentiment = ModelStub("sentiment")
    try:
        settings = make_settings(
            tmp_path, tft.url, nhits.url, sentiment.url, chain={"symbol_deadline_s": 4.0}
        )
        settings.alerts.slack_webhook_url = SecretStr(slack.url + "/hook")
        settings.alerts.confidence_threshold = 1.0  # only the outage alerts
        tft.hang_s = 30.0
        tft.faults += ["hang"] * 12
        symbols = ["MSFT", "AAPL", "TSLA"]
        doc = asyncio.run(
            run_analysis(settings, symbols=symbols, as_of=AS_OF, offline=True)
        ).to_document()
        assert doc["performance_metrics"]["tier_counts"]["nhits"] == 3
        assert doc["breakers"]["tft"]["state"] == "open"  # three timeouts, three failures
        outage = [a for a in doc["alerts"] if a["level"] == "SERVICE_UNREACHABLE"]
        assert [a["symbol"] for a in outage] == ["tft"] and outage[0]["delivered"] == ["slack"]
        # The next run skips the open breaker at once and does not alert again.
        again = asyncio.run(
            run_analysis(settings, symbols=["MSFT"], as_of=AS_OF, offline=True)
        ).to_document()
        price = again["trading_signals"]["MSFT"]["components"]["price_prediction"]
        assert price["tier"] == "nhits" and price["calls"][0]["outcome"] == "skipped (circuit open)"
        assert [a["duplicate"] for a in again["alerts"] if a["symbol"] == "tft"] == [True]
        assert len(slack.received) == 1
    finally:
        slack.stop()
        sentiment.stop()


def test_a_zero_close_fails_that_symbol_alone(tmp_path: Path, tft, nhits) -> None:
    end = datetime.now(UTC).date() - timedelta(days=1)
    noon = datetime(end.year, end.month, end.day, 15, 0, tzinfo=UTC)

    def series(bad: bool) -> list[tuple]:
        rows = []
        for k in range(60, 0, -1):
            stamp, price = int((noon - timedelta(days=k)).timestamp()), 100.0 + k * 0.1
            rows.append((stamp, price, price + 1, price - 1, price, 1e6))
        if bad:
            stamp, *_ = rows[-5]
            rows[-5] = (stamp, 100.0, 101.0, 99.0, 0.0, 1e6)  # a feed's zero close
        return rows

    rss = '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    yahoo = YahooStub({"GOOD": series(False), "ZERO": series(True)}, {"GOOD": rss, "ZERO": rss})
    try:
        settings = make_settings(tmp_path, tft.url, nhits.url, DEAD_URL)
        settings.yahoo_chart_url = yahoo.url + "/v8/finance/chart/{symbol}"
        settings.yahoo_rss_url = yahoo.url + "/rss/2.0/headline"
        doc = asyncio.run(run_analysis(settings, symbols=["GOOD", "ZERO"])).to_document()
    finally:
        yahoo.stop()
    assert doc["status"] == "partial"
    assert doc["trading_signals"]["GOOD"]["success"] is True
    assert "price that is not positive" in doc["trading_signals"]["ZERO"]["error"]
    assert [e["stage"] for e in doc["errors"] if e["symbol"] == "ZERO"] == ["market_data"]


def test_retry_after_is_read_in_its_delay_form() -> None:
    from orchestrator.common.retry import retry_after_of

    assert retry_after_of("2") == 2.0 and retry_after_of("0.5") == 0.5
    assert retry_after_of("Wed, 21 Oct 2026 07:28:00 GMT") is None  # a date: plain backoff
    assert retry_after_of("-1") is None and retry_after_of("inf") is None
    assert retry_after_of(None) is None
