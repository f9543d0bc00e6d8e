"""A minimal client of the services that waits when a service asks it to: 503 + Retry-After.

A loaded service refuses work it cannot start soon (503 with ``Retry-After``, before any work is
done) instead of answering late. A client that treats that as a failure reports an outage
where there was only a queue; the benchmarks and the tests therefore send their requests
through :func:`post` / :func:`apost`, which honour ``Retry-After`` up to ``tries`` attempts and
return the last answer. (The orchestrator has its own client, with breakers and fallbacks.)
"""

from __future__ import annotations

import asyncio
import time

import httpx

TRIES = 20
MAX_WAIT_S = 10.0


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds a 503 asks the client to wait (None: not a 503, or no usable Retry-After)."""
    if response.status_code != 503:
        return None
    try:
        wait = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(wait, MAX_WAIT_S) if wait >= 0 else None


def post(client: httpx.Client | None, url: str, *, tries: int = TRIES, **kwargs) -> httpx.Response:
    """``POST url``, again after each 503's ``Retry-After``; the last answer."""
    for attempt in range(1, tries + 1):
        response = (client or httpx).post(url, **kwargs)
        wait = retry_after_s(response)
        if wait is None or attempt == tries:
            return response
        time.sleep(wait)
    raise AssertionError("unreachable")


async def apost(client: httpx.AsyncClient, url: str, *, tries: int = TRIES, **kwargs):
    """:func:`post` for an ``httpx.AsyncClient``; returns ``(answer, attempts)``."""
    for attempt in range(1, tries + 1):
        response = await client.post(url, **kwargs)
        wait = retry_after_s(response)
        if wait is None or attempt == tries:
            return response, attempt
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")
