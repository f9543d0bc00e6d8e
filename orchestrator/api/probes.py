"""Is each model target there and ready? One probe per target at a time, shared and reused.

``GET /health`` and the dashboard ask on every view. 300 concurrent ``/health`` requests used
to send 900 probes, time out on the client's pool and call healthy services unreachable
(issue 33 M3); a probe's answer is now reused for ``PROBE_TTL_S`` by every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from premarket.settings import Target

PROBE_TIMEOUT_S = 2.0
PROBE_TTL_S = 3.0
"""A target's probe is reused this long by every /health and dashboard request."""


async def probe(client: httpx.AsyncClient, target: Target) -> dict:
    """Can the target be reached, and is it ready to answer?

    A BentoML service (flat dialect) is ready when ``/readyz`` answers 2xx. A ModelScope
    endpoint only takes POSTs, so any answer below 500 to a GET (401, 405) means it is there.
    """
    flat = target.dialect == "flat"
    url = target.url.rstrip("/") + ("/readyz" if flat else "")
    try:
        response = await client.get(url, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return {"reachable": False, "ready": False, "error": type(exc).__name__}
    ready = response.is_success if flat else response.status_code < 500
    return {"reachable": True, "ready": ready, "status_code": response.status_code}


class Probes:
    """One probe per target at a time, and its answer reused for ``PROBE_TTL_S``: 300
    concurrent ``/health`` requests used to send 900 probes, time out on the client's pool and
    call healthy services unreachable."""

    def __init__(
        self, client: httpx.AsyncClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.clock = clock
        self._last: dict[str, tuple[float, dict]] = {}
        self._running: dict[str, asyncio.Task] = {}

    async def of(self, name: str, target: Target) -> dict:
        known = self._last.get(name)
        if known is not None and self.clock() - known[0] < PROBE_TTL_S:
            return known[1]
        task = self._running.get(name)
        if task is None or task.done():
            task = self._running[name] = asyncio.create_task(self._probe(name, target))
        return await asyncio.shield(task)  # one caller gone does not cancel the others' probe

    async def _probe(self, name: str, target: Target) -> dict:
        found = await probe(self.client, target)
        self._last[name] = (self.clock(), found)
        return found
