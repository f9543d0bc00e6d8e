"""Sustained load: 32 concurrent clients for 60 seconds against each model service.

Starts the three services (``serving.launch.ServiceGroup``, free ports, the models of the current
BentoML store) and, one service at a time, keeps 32 clients posting real requests back to back
(the original callers' flat body with real daily rows for TFT and N-HITS, eight real headlines in
one envelope for sentiment). Reported per service: errors (any non-200 or transport error; target
0), p50 and p99 latency, throughput, and the resident memory of the service's whole process
tree (server and workers) read from /proc before the load, halfway through and at the end. Memory must not grow
without bound: the growth over the second half of the run, once warm, is the figure to watch.
The latency baseline is one client alone (same requests), so ``ratio`` shows the queueing cost.

Then a burst: ``BURST_CLIENTS`` (300) clients at once, each sending ``BURST_REQUESTS`` requests
and, on a 503, waiting its ``Retry-After`` before the next, as a polite client does. Over
capacity a service answers 503 (counted and reported), never 500: ``burst_*_500`` counts every
other 5xx (target 0), ``burst_*_transport_errors`` the client-side failures by kind; p99 is over
every answer, 503s included.

``PREMARKET_BENCH_LOAD_S`` shortens the run (e.g. 5 for a smoke run).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter

import httpx
import psutil

from bench import entry, percentile
from serving.launch import SERVICES, ServiceGroup, free_port
from serving.process import process_tree
from serving.samples import forecast_body, headlines

DURATION_S = float(os.environ.get("PREMARKET_BENCH_LOAD_S", "60"))
CLIENTS = 32
SOLO_REQUESTS = 50
WARM_UP_REQUESTS = 64
MAX_SECOND_HALF_GROWTH_MB = 32.0
BURST_CLIENTS = 300
BURST_REQUESTS = 3


def tree_rss_mb(pid: int) -> float:
    """Resident memory (MB) of a service: its server process and every worker under it."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += member.memory_info().rss / 2**20
        except psutil.Error:
            continue  # a process that just exited
    return total


def _request(name: str, rows: int) -> tuple[str, dict]:
    if name == "sentiment":
        return "/call", {"input": headlines(8)}
    return "/predict", forecast_body("AAPL", rows)


async def _load(url: str, path: str, body: dict, pid: int, seconds: float) -> dict:
    """``CLIENTS`` clients posting back to back for ``seconds``; latencies, errors, memory."""
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        solo = []
        for _ in range(SOLO_REQUESTS):
            start = time.perf_counter()
            response = await client.post(path, json=body)
            solo.append((time.perf_counter() - start) * 1000.0)
            if response.status_code != 200:
                errors.append(f"solo: HTTP {response.status_code}")
        await asyncio.gather(*(client.post(path, json=body) for _ in range(WARM_UP_REQUESTS)))
        rss_before = tree_rss_mb(pid)
        began = time.perf_counter()
        deadline = began + seconds

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                    continue
                latencies.append((time.perf_counter() - start) * 1000.0)
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}")

        async def halfway() -> float:
            await asyncio.sleep(seconds / 2)
            return tree_rss_mb(pid)

        rss_half, *_ = await asyncio.gather(halfway(), *(one_client() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - began
        rss_after = tree_rss_mb(pid)
    return {
        "latencies": latencies,
        "solo": solo,
        "errors": errors,
        "throughput": len(latencies) / elapsed,
        "rss": (rss_before, rss_half, rss_after),
    }


async def _burst(url: str, path: str, body: dict) -> dict:
    """``BURST_CLIENTS`` clients at once, ``BURST_REQUESTS`` each; statuses and latencies."""
    latencies: list[float] = []
    statuses: list[int | str] = []
    limits = httpx.Limits(max_connections=BURST_CLIENTS, max_keepalive_connections=BURST_CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one_client() -> None:
            for _ in range(BURST_REQUESTS):
                start = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                except httpx.HTTPError as exc:
                    statuses.append(type(exc).__name__)
                    continue
                latencies.append((time.perf_counter() - start) * 1000.0)
                statuses.append(response.status_code)
                if response.status_code == 503:
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

        await asyncio.gather(*(one_client() for _ in range(BURST_CLIENTS)))
    return {"latencies": latencies, "statuses": statuses}


def burst_entries(name: str, found: dict) -> dict[str, dict]:
    """The burst's entries: 500s (any 5xx but 503; target 0), 503s, transport errors (by kind),
    p50 and p99 of every answer."""
    statuses, latencies = found["statuses"], found["latencies"]
    shed = sum(s == 503 for s in statuses)
    broken = sum(isinstance(s, int) and s >= 500 and s != 503 for s in statuses)
    transport = Counter(s for s in statuses if not isinstance(s, int))
    of = f"of {len(statuses)} requests"
    key = f"burst_{name}_c{BURST_CLIENTS}"
    return {
        f"{key}_500": entry(broken, 0, unit=f"{of} (5xx other than 503)", target="0 errors"),
        f"{key}_503": entry(shed, None, unit=f"{of} (over capacity, with Retry-After)"),
        f"{key}_transport_errors": entry(
            sum(transport.values()), None, unit=f"{of} ({dict(transport) or 'none'})"
        ),
        f"{key}_p50": entry(statistics.median(latencies), None, unit="ms (every answer)"),
        f"{key}_p99": entry(percentile(latencies, 0.99), None, unit="ms (every answer)"),
    }


SOLO_UNIT = "ms (baseline: 1 client)"


def run() -> dict:
    results: dict[str, dict] = {}
    with ServiceGroup({name: free_port() for name in SERVICES}) as group:
        for name, url in group.urls.items():
            pid = group.processes[name].pid
            assert pid is not None, f"{name} is not running"
            rows = 30
            if name != "sentiment":
                rows = max(rows, httpx.get(url + "/describe").json()["limits"]["min_rows"])
            path, body = _request(name, rows)
            found = asyncio.run(_load(url, path, body, pid, DURATION_S))
            latencies, solo = found["latencies"], found["solo"]
            before, half, after = found["rss"]
            key = f"load_{name}"
            results[f"{key}_errors"] = entry(
                len(found["errors"]), 0, unit=f"of {len(latencies)} requests", target="0 errors"
            )
            results[f"{key}_p50_c{CLIENTS}"] = entry(
                statistics.median(latencies), statistics.median(solo), unit=SOLO_UNIT
            )
            results[f"{key}_p99_c{CLIENTS}"] = entry(
                percentile(latencies, 0.99), percentile(solo, 0.99), unit=SOLO_UNIT
            )
            results[f"{key}_throughput"] = entry(found["throughput"], None, unit="requests/s")
            results[f"{key}_rss_end"] = entry(after, before, unit="MB (baseline: before the load)")
            results[f"{key}_rss_growth_second_half"] = entry(
                after - half, None, unit="MB", target=f"under {MAX_SECOND_HALF_GROWTH_MB:g}"
            )
            results.update(burst_entries(name, asyncio.run(_burst(url, path, body))))
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
