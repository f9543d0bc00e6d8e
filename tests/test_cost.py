"""Cost tracking: a run's compute seconds per service at the configured prices, in the result,
``/results``, and the CLI summary; old stored documents without a cost still load."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest
from orchestrator_stubs import ModelStub, make_settings
from rich.console import Console

from orchestrator.api.app import create_app
from orchestrator.cli.analyze import render
from orchestrator.documents.run import RunResult
from orchestrator.jobs.analysis import run_analysis
from orchestrator.storage.store import Store
from orchestrator.tracking.cost import run_cost

SYMBOLS = ["AAPL", "MSFT", "NVDA"]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One offline run against loopback model services, stored; its settings and result."""
    tmp = tmp_path_factory.mktemp("cost")
    stubs = [
        ModelStub("forecast"),
        ModelStub("forecast", "N-HITS (Backup)"),
        ModelStub("sentiment"),
    ]
    settings = make_settings(tmp, *(s.url for s in stubs))
    try:
        result = asyncio.run(
            run_analysis(settings, symbols=SYMBOLS, as_of=date(2022, 9, 15), offline=True)
        )
    finally:
        for stub in stubs:
            stub.stop()
    assert result.status == "ok"
    return settings, result


def test_the_run_costs_its_services_seconds_at_the_hourly_price(ran):
    settings, result = ran
    cost = result.cost
    assert cost is not None and cost.device == "cpu" and cost.hour_usd == 0.10
    forecast_s = sum(s.price.inference_time_ms for s in result.signals.values()) / 1000
    assert cost.services["tft"].calls == len(SYMBOLS)
    assert cost.services["tft"].compute_s == pytest.approx(forecast_s, abs=1e-4)
    sentiment_s = result.performance_metrics.latency_ms["sentiment_ms"] / 1000
    assert cost.services["sentiment"].compute_s == pytest.approx(sentiment_s, abs=1e-4)
    for service in cost.services.values():
        assert not service.hosted
        assert service.usd == pytest.approx(service.compute_s * 0.10 / 3600, abs=1e-8)
    assert cost.total_usd == pytest.approx(sum(s.usd for s in cost.services.values()), abs=1e-8)
    assert cost.predictions == len(SYMBOLS)
    assert cost.per_prediction_usd == pytest.approx(cost.total_usd / len(SYMBOLS), abs=1e-9)
    assert 0 < cost.per_prediction_usd < 0.15  # the seeds' goal


def test_a_gpu_host_and_a_hosted_target_are_priced_their_way(ran):
    settings, result = ran
    priced = settings.model_copy(deep=True)
    priced.cost.device, priced.cost.gpu_hour_usd = "gpu", 2.0
    priced.tft.dialect = "modelscope"
    priced.cost.call_usd = {"tft": 0.002}
    cost = run_cost(result, priced)
    assert cost.hour_usd == 2.0
    assert cost.services["tft"].hosted and cost.services["tft"].usd == pytest.approx(0.006)
    sentiment = cost.services["sentiment"]
    assert not sentiment.hosted
    assert sentiment.usd == pytest.approx(sentiment.compute_s * 2 / 3600, abs=1e-8)


def test_batched_timings_are_capped_at_the_stage_wall_time(ran):
    settings, result = ran
    squeezed = result.model_copy(deep=True)
    for signal in squeezed.signals.values():
        signal.price.inference_time_ms = 40.0  # each request waited for the same batch
    squeezed.performance_metrics.latency_ms["analysis_ms"] = 50.0
    assert run_cost(squeezed, settings).services["tft"].compute_s == 0.05


def test_cost_is_in_results_and_the_cli_caption_and_old_documents_still_load(ran, tmp_path):
    settings, result = ran
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.save_run(result)

    async def get() -> dict:
        app = create_app(settings, store=store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return (await client.get("/results/latest")).json()

    document = asyncio.run(get())
    store.close()
    assert document["cost"]["per_prediction_usd"] == result.cost.per_prediction_usd
    assert set(document["cost"]["services"]) == {"tft", "sentiment"}
    console = Console(width=200, record=True)
    console.print(render(result))
    text = console.export_text()
    assert f"${result.cost.per_prediction_usd:.6f} per prediction marginal" in text
    assert f"amortised ${result.cost.amortised_per_prediction_usd:.4f}" in text
    del document["cost"]
    old = RunResult.model_validate(document)
    assert old.cost is None and "cost" not in old.to_document()


def test_the_sentiment_services_own_timing_is_charged_when_it_reports_one(ran):
    """A service that reports its model time (``X-Inference-Time-Ms``) is charged that, not the
    request's latency (which only a service that reports nothing is charged, as a bound)."""
    settings, result = ran
    cost = run_cost(result, settings, sentiment_compute_ms=12.5)
    assert cost.services["sentiment"].compute_s == 0.0125
    latency_s = result.performance_metrics.latency_ms["sentiment_ms"] / 1000
    assert run_cost(result, settings).services["sentiment"].compute_s == pytest.approx(
        latency_s, abs=1e-4
    )


def test_the_hosts_day_is_shared_by_the_days_predictions(ran):
    """A $0.10/h host up all day is $2.40 whatever a run uses of it: the amortised figure shares
    it among the day's predictions (6 slots by default), and only hosted calls escape it."""
    settings, result = ran
    cost = result.cost
    assert cost.host_day_usd == pytest.approx(2.40) and cost.runs_per_day == 6
    assert cost.amortised_per_prediction_usd == pytest.approx(2.40 / (len(SYMBOLS) * 6))
    assert cost.amortised_per_prediction_usd > 100 * cost.per_prediction_usd
    morning = settings.model_copy(deep=True)
    morning.cost.service_hours_per_day, morning.cost.runs_per_day = 1.0, 2
    assert run_cost(result, morning).amortised_per_prediction_usd == pytest.approx(
        0.10 / (len(SYMBOLS) * 2)
    )
    hosted = settings.model_copy(deep=True)
    for name in ("tft", "nhits", "sentiment"):
        getattr(hosted, name).dialect = "modelscope"
    hosted.cost.call_usd = {"tft": 0.002, "nhits": 0.001, "sentiment": 0.003}
    everything_hosted = run_cost(result, hosted)
    assert everything_hosted.host_day_usd == 0.0
    assert everything_hosted.amortised_per_prediction_usd == pytest.approx(
        everything_hosted.total_usd / len(SYMBOLS)
    )


def test_a_hosted_target_without_a_price_is_refused_at_load(tmp_path, monkeypatch):
    from premarket.settings import SettingsError, load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREMARKET_TFT__DIALECT", "modelscope")
    with pytest.raises(SettingsError, match=r"cost\.call_usd\.tft: required when tft\.dialect"):
        load_settings()
    monkeypatch.setenv("PREMARKET_COST__CALL_USD", '{"tft": 0.002}')
    assert load_settings().cost.call_usd == {"tft": 0.002}
