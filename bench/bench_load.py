"""Sustained load: 32 concurrent clients for 60 seconds against each model service.

Starts the three services (``serving.launch.ServiceGroup``, free ports, the models of the current
BentoML store) and, one service at a time, keeps 32 clients posting real requests back to back
(the original callers' flat body with real daily rows for TFT and N-HITS, eight real headlines in
one envelope for sentiment). Reported per service: errors (any non-200 or transport error; target
0), p50 and p99 latency, throughput, and the resident memory of the service's whole process
tree (server and workers) read from /proc before the load, halfway through and at the end. Memory must not grow
without bound: the growth over the second half of the run, once warm, is the figure to watch.
The latency baseline is one client alone (same requests), so ``ratio`` shows the queueing cost.

``PREMARKET_BENCH_LOAD_S`` shortens the run (e.g. 5 for a smoke run).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path

import httpx

from bench import entry, percentile
from serving.launch import SERVICES, ServiceGroup, free_port, process_tree
from serving.samples import forecast_body, headlines

DURATION_S = float(os.environ.get("PREMARKET_BENCH_LOAD_S", "60"))
CLIENTS = 32
SOLO_REQUESTS = 50
WARM_UP_REQUESTS = 64
MAX_SECOND_HALF_GROWTH_MB = 32.0
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def tree_rss_mb(pid: int) -> float:
    """Resident memory (MB) of a service: its server process and every worker under it."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE_MB
        except (OSError, ValueError, IndexError):
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
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
