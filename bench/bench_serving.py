"""Latency of the three model services over HTTP on loopback, at 1 and 32 concurrent clients.

Starts the services (``serving.launch.ServiceGroup``, free ports, the models of the current
BentoML store) and replays real requests: the original callers' flat body with 30 real daily
rows for TFT and N-HITS; for sentiment, 32 mixed-length news sentences (about 5 to 80 tokens,
``news_check.mixed_lengths``) in one ModelScope envelope on ``/call``, the work a morning run
sends. The baseline is
the same model called in-process (no HTTP, no batching), so ``ratio`` is the share of the
latency spent in the model itself. A 503 is waited out as it asks (``Retry-After``, as every
client should, ``serving.client``); any other non-200 answer is counted in ``*_errors``
(target 0), and the latency includes the waits.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench import entry, percentile
from serving.client import apost, post
from serving.launch import SERVICES, ServiceGroup, free_port
from serving.samples import forecast_body

TARGET_P50_MS = {"nhits": 5.0, "tft": 25.0, "sentiment": 500.0}
SENTIMENT_TEXTS = 32
SEQUENTIAL_REQUESTS = 200
CONCURRENT_CLIENTS = 32
REQUESTS_PER_CLIENT = 10
WARM_UP_REQUESTS = 20


def _request(name: str) -> tuple[str, dict]:
    if name == "sentiment":
        return "/call", {"input": _news()}
    return "/predict", forecast_body("AAPL", 30)


def sequential(url: str, path: str, body: dict, count: int) -> tuple[list[float], int]:
    """Latencies (ms) of ``count`` requests one after another, and the number of errors."""
    latencies, errors = [], 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(count):
            start = time.perf_counter()
            response = post(client, path, json=body)
            latencies.append((time.perf_counter() - start) * 1000.0)
            errors += response.status_code != 200
    return latencies, errors


def concurrent(url: str, path: str, body: dict, clients: int, each: int) -> tuple[list[float], int]:
    """Latencies (ms) with ``clients`` clients each sending ``each`` requests back to back."""

    async def client_loop(client: httpx.AsyncClient, out: list[tuple[float, bool]]) -> None:
        for _ in range(each):  # a 503 asks the client to come back (Retry-After): it does
            start = time.perf_counter()
            response, _ = await apost(client, path, json=body)
            out.append(((time.perf_counter() - start) * 1000.0, response.status_code == 200))

    async def run() -> list[tuple[float, bool]]:
        out: list[tuple[float, bool]] = []
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            await asyncio.gather(*(client_loop(client, out) for _ in range(clients)))
        return out

    results = asyncio.run(run())
    return [ms for ms, _ in results], sum(not ok for _, ok in results)


def in_process(name: str, count: int = 100) -> list[float]:
    """Latencies (ms) of the bare model call the service makes for one request."""
    call = _model_call(name)
    call()
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - start) * 1000.0)
    return latencies


def _model_call(name: str) -> Callable[[], object]:
    """The model as the service loads it (same torch thread setting), called on one request."""
    from serving.runtime import limit_torch_threads, model_dir

    rows = forecast_body("AAPL", 30)["sequence_data"]
    if name == "nhits":
        from models.nhits.inference import NHitsForecaster

        model = NHitsForecaster.load(model_dir("nhits")[1])
        return lambda: model.forecast([[r[3] for r in rows]])
    if name == "tft":
        from models.tft.predictor import TFTPredictor

        limit_torch_threads()
        model = TFTPredictor.load(model_dir("tft")[1])
        return lambda: model.forecast([("AAPL", rows, None)])
    from models.sentiment.default import load_default

    limit_torch_threads()
    classifier = load_default()
    return lambda: classifier.predict(_news())


def _news() -> list[str]:
    from models.sentiment.news_check import mixed_lengths

    return mixed_lengths(SENTIMENT_TEXTS, seed=29)


def run() -> dict:
    results: dict[str, dict] = {}
    logs = Path(tempfile.mkdtemp(prefix="bench-serving-"))  # keeps server logs off the report
    with ServiceGroup({name: free_port() for name in SERVICES}, log_dir=logs) as group:
        for name, url in group.urls.items():
            path, body = _request(name)
            sequential(url, path, body, WARM_UP_REQUESTS)
            base = in_process(name)
            base_p50, base_p99 = percentile(base, 0.5), percentile(base, 0.99)
            one, errors_one = sequential(url, path, body, SEQUENTIAL_REQUESTS)
            many, errors_many = concurrent(url, path, body, CONCURRENT_CLIENTS, REQUESTS_PER_CLIENT)
            target = f"p50 < {TARGET_P50_MS[name]:g} ms"
            results[f"serving_{name}_p50_c1"] = entry(
                statistics.median(one), base_p50, unit="ms", target=target
            )
            results[f"serving_{name}_p99_c1"] = entry(percentile(one, 0.99), base_p99, unit="ms")
            results[f"serving_{name}_p50_c32"] = entry(statistics.median(many), base_p50, unit="ms")
            results[f"serving_{name}_p99_c32"] = entry(percentile(many, 0.99), base_p99, unit="ms")
            results[f"serving_{name}_errors"] = entry(
                errors_one + errors_many, 0, unit="requests", target="0 errors"
            )
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
