"""The fallback chain against loopback model services: dialects, retries, breakers, deadline."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import orchestrator_stubs as stubs
import pytest
from orchestrator_stubs import DEAD_URL, ModelStub, make_settings
from pydantic import SecretStr

from orchestrator.data.market import Bars, OfflineMarketData
from orchestrator.forecast.breaker import BreakerBoard, breaker_states
from premarket.settings import Target


@pytest.fixture(scope="module")
def bars() -> Bars:
    market = OfflineMarketData(as_of=date(2022, 9, 20))
    return asyncio.run(market.history("MSFT", 90))


@pytest.fixture
def tft():
    stub = ModelStub("forecast", "TFT (Primary)", change=0.01, confidence=0.8)
    yield stub
    stub.stop()


@pytest.fixture
def nhits():
    stub = ModelStub("forecast", "N-HITS (Backup)", change=-0.01, confidence=0.6)
    yield stub
    stub.stop()


forecast = stubs.chain_forecast


def test_primary_answers_in_the_flat_dialect(tmp_path: Path, tft, nhits, bars: Bars) -> None:
    outcome = forecast(make_settings(tmp_path, tft.url, nhits.url, DEAD_URL), bars)
    assert outcome.tier == "tft" and outcome.fallback_reason is None
    assert outcome.result.model_used == "TFT (Primary)"
    assert outcome.result.current_price == pytest.approx(bars.close[-1], rel=1e-6)
    assert outcome.result.direction == "UP" and outcome.latency_ms > 0
    request = json.loads(tft.requests[-1]["body"])
    assert tft.requests[-1]["path"] == "/predict"
    assert request["symbol"] == "MSFT" and len(request["sequence_data"]) == 90
    assert request["sequence_data"][-1][3] == bars.close[-1]
    assert request["dates"][-1] == "2022-09-20"
    assert nhits.requests == []


def test_modelscope_url_is_posted_to_directly_with_the_token(
    tmp_path: Path, tft, nhits, bars: Bars
) -> None:
    settings = make_settings(tmp_path, DEAD_URL, nhits.url, DEAD_URL)
    settings.tft = Target(
        url=f"{tft.url}/api/v1/models/premarket/tft",
        dialect="modelscope",
        token=SecretStr("s3cret-token"),
    )
    settings.nhits = Target(url=nhits.url, dialect="modelscope")
    outcome = forecast(settings, bars)
    assert outcome.tier == "tft"
    sent = tft.requests[-1]
    assert sent["path"] == "/api/v1/models/premarket/tft"
    assert sent["headers"]["Authorization"] == "Bearer s3cret-token"
    assert json.loads(sent["body"])["input"]["symbol"] == "MSFT"
    # A base URL in the envelope dialect is posted to /call.
    tft.faults.append(503)
    tft.faults.append(503)
    outcome = forecast(settings, bars)
    assert outcome.tier == "nhits" and nhits.requests[-1]["path"] == "/call"
    assert "503" in outcome.fallback_reason and "s3cret" not in json.dumps(
        [c.model_dump() for c in outcome.calls]
    )


def test_transient_errors_are_retried_and_4xx_are_not(
    tmp_path: Path, tft, nhits, bars: Bars
) -> None:
    settings = make_settings(tmp_path, tft.url, nhits.url, DEAD_URL)
    tft.faults += [503, 429]  # two transient failures, then an answer (retries=2)
    settings.chain.retries = 2
    outcome = forecast(settings, bars)
    assert outcome.tier == "tft" and len(tft.requests) == 3
    assert outcome.calls[0].tries == 3

    tft.requests.clear()
    tft.faults.append(400)
    outcome = forecast(settings, bars)
    assert outcome.tier == "nhits" and len(tft.requests) == 1
    assert "tft: HTTP 400" in outcome.fallback_reason
    assert outcome.calls[0].outcome == "rejected"


@pytest.mark.parametrize("fault", ["garbage", "schema"])
def test_a_broken_answer_falls_back(tmp_path: Path, tft, nhits, bars: Bars, fault: str) -> None:
    tft.faults.append(fault)
    outcome = forecast(make_settings(tmp_path, tft.url, nhits.url, DEAD_URL), bars)
    assert outcome.tier == "nhits" and outcome.result.model_used == "N-HITS (Backup)"
    assert outcome.calls[0].outcome == "invalid_answer"
    assert len(tft.requests) == 1  # an invalid answer is not retried


def test_both_down_gives_the_statistical_tier(tmp_path: Path, bars: Bars) -> None:
    outcome = forecast(make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL), bars)
    assert outcome.tier == "statistical"
    assert outcome.result.model_used == "Statistical (Fallback)"
    assert "tft: cannot connect" in outcome.fallback_reason
    assert "nhits: cannot connect" in outcome.fallback_reason
    assert 0.5 <= outcome.result.confidence < 1


def test_breaker_opens_persists_and_half_opens(tmp_path: Path, tft, nhits, bars: Bars) -> None:
    settings = make_settings(
        tmp_path, tft.url, nhits.url, DEAD_URL, chain={"retries": 0, "breaker_cooldown_s": 0.5}
    )
    tft.faults += [500, 500, 500]
    board = BreakerBoard(settings)
    for _ in range(3):
        assert forecast(settings, bars, board).tier == "nhits"
    board.save()
    assert breaker_states(settings)["tft"].state == "open"

    # The next process (a new board from the file) skips the primary without calling it.
    calls_before = len(tft.requests)
    board = BreakerBoard(settings)
    outcome = forecast(settings, bars, board)
    assert outcome.tier == "nhits" and len(tft.requests) == calls_before
    assert "circuit open" in outcome.fallback_reason

    # After the cool-down one probe goes through; its success closes the breaker. The cool-down
    # is passed by moving the opening back in time, not by sleeping against it.
    board["tft"].opened_at -= 0.6
    outcome = forecast(settings, bars, board)
    assert outcome.tier == "tft" and board["tft"].state == "closed"

    # A changed URL starts with a fresh breaker.
    board["tft"].state = "open"
    board["tft"].opened_at = 1e12
    board.save()
    settings.tft = Target(url=tft.url + "/", timeout_s=2.0)
    assert BreakerBoard(settings)["tft"].state == "closed"


def test_a_successful_probe_serves_every_symbol_of_the_run(tmp_path: Path, tft, nhits, bars):
    """Symbols that ask while another symbol's half-open probe is out wait for its verdict: a
    recovered primary answers all of them, and none carries a stale "circuit open" reason."""
    import threading

    import httpx

    from orchestrator.forecast.chain import ForecastChain

    settings = make_settings(tmp_path, tft.url, nhits.url, DEAD_URL, chain={"retries": 0})
    board = BreakerBoard(settings)
    breaker = board["tft"]
    breaker.state, breaker.failures, breaker.opened_at = "open", 10, 0.0  # cool-down long past
    tft.gate = threading.Event()

    def open_gate_once_the_probe_arrived() -> None:
        while not tft.requests:  # the probe is held in the stub until then
            threading.Event().wait(0.01)
        tft.gate.set()

    async def go():
        async with httpx.AsyncClient() as http:
            chain = ForecastChain(settings, http, board)
            return await asyncio.gather(*(chain.forecast(bars) for _ in range(4)))

    releaser = threading.Thread(target=open_gate_once_the_probe_arrived)
    releaser.start()
    outcomes = asyncio.run(go())
    releaser.join()
    assert [o.tier for o in outcomes] == ["tft"] * 4
    assert all(o.fallback_reason is None for o in outcomes)
    assert breaker.state == "closed" and not nhits.requests


def test_a_failed_probe_refuses_the_waiting_symbols_truthfully(tmp_path: Path, tft, nhits, bars):
    import threading

    import httpx

    from orchestrator.forecast.chain import ForecastChain

    settings = make_settings(tmp_path, tft.url, nhits.url, DEAD_URL, chain={"retries": 0})
    board = BreakerBoard(settings)
    board["tft"].state, board["tft"].failures, board["tft"].opened_at = "open", 3, 0.0
    tft.faults += [500]
    tft.gate = threading.Event()
    tft.gate.set()

    async def go():
        async with httpx.AsyncClient() as http:
            chain = ForecastChain(settings, http, board)
            return await asyncio.gather(*(chain.forecast(bars) for _ in range(3)))

    outcomes = asyncio.run(go())
    assert [o.tier for o in outcomes] == ["nhits"] * 3 and len(tft.requests) == 1
    probe = [o for o in outcomes if o.calls[0].outcome != "skipped (circuit open)"]
    assert len(probe) == 1 and probe[0].calls[0].outcome == "server"
    refused = [o for o in outcomes if o.calls[0].outcome == "skipped (circuit open)"]
    assert all("circuit open after 4 failures" in o.fallback_reason for o in refused)


def test_a_probe_without_a_verdict_hands_the_probe_to_the_next_waiter(tmp_path, tft, nhits, bars):
    """Our own bad input (a 4xx) says nothing about the service: the next waiting symbol
    probes, succeeds, and the rest of the run is served by the primary."""
    import httpx

    from orchestrator.forecast.chain import ForecastChain

    settings = make_settings(tmp_path, tft.url, nhits.url, DEAD_URL, chain={"retries": 0})
    board = BreakerBoard(settings)
    board["tft"].state, board["tft"].failures, board["tft"].opened_at = "open", 3, 0.0
    tft.faults += [422]

    async def go():
        async with httpx.AsyncClient() as http:
            chain = ForecastChain(settings, http, board)
            return await asyncio.gather(*(chain.forecast(bars) for _ in range(4)))

    tiers = sorted(o.tier for o in asyncio.run(go()))
    assert tiers == ["nhits", "tft", "tft", "tft"] and board["tft"].state == "closed"


def test_a_hanging_primary_leaves_the_backup_its_share_of_the_deadline(
    tmp_path: Path, tft, nhits, bars
) -> None:
    settings = make_settings(
        tmp_path, tft.url, nhits.url, DEAD_URL, chain={"symbol_deadline_s": 4.0, "retries": 2}
    )
    tft.hang_s = 30.0
    tft.faults += ["hang"] * 3
    board = BreakerBoard(settings)
    outcome = forecast(settings, bars, board)
    assert outcome.tier == "nhits" and len(nhits.requests) == 1
    assert "tft: no answer within" in outcome.fallback_reason
    assert outcome.calls[0].outcome == "unreachable"
    # The timeout counts against the primary's breaker: a hung service is not "healthy".
    assert board["tft"].failures == 1 and board["tft"].last_error.startswith("tft: no answer")
    # Its share of the deadline (2 s), not the 30 s hang or 3 tries, bounds the hung call.
    assert outcome.calls[0].latency_ms < 1000 * tft.hang_s / 3


def test_ensemble_blends_the_two_models(tmp_path: Path, tft, nhits, bars: Bars) -> None:
    settings = make_settings(tmp_path, tft.url, nhits.url, DEAD_URL, chain={"ensemble": True})
    outcome = forecast(settings, bars)
    last = bars.close[-1]
    assert outcome.tier == "ensemble"
    # 0.55 * (+1%) + 0.45 * (-1%) = +0.1%
    assert outcome.result.predicted_price == pytest.approx(last * 1.001, rel=1e-4)
    # P(up) = 0.55 * 0.8 + 0.45 * (1 - 0.6) = 0.62
    assert outcome.result.confidence == pytest.approx(0.62, abs=1e-3)
    nhits.faults.append(500)
    nhits.faults.append(500)
    assert forecast(settings, bars).tier == "tft"
