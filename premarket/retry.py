"""One retry loop for everything that calls something that may fail for a moment.

The model services retry their internal batch call when its connection is cut under it, and the
orchestrator retries model calls and alert deliveries; both use :func:`retry`, so the rule (what
is worth another try, how long to wait, what the caller learns when it gives up) is written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    tries: int,
    transient: Callable[[Exception], bool],
    backoff_s: float = 0.0,
    retry_after: Callable[[Exception], float | None] = lambda _: None,
    on_give_up: Callable[[Exception, int], None] = lambda _exc, _attempts: None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> tuple[T, int]:
    """Run ``call`` up to ``tries`` times; return its result and the number of attempts made.

    Only an exception for which ``transient(exc)`` is true is tried again, after
    ``backoff_s * 2 ** (attempt - 1)`` seconds, or longer when ``retry_after(exc)`` asks for it
    (a 503's ``Retry-After``). When it gives up, ``on_give_up(exc, attempts)`` runs (to say how
    many attempts were made) and the last exception propagates. ``sleep`` is for tests.
    """
    if tries < 1:
        raise ValueError(f"tries={tries}: must be at least 1")
    attempt = 1
    while True:
        try:
            return await call(), attempt
        except Exception as exc:
            if attempt == tries or not transient(exc):
                on_give_up(exc, attempt)
                raise
            wait = max(backoff_s * 2 ** (attempt - 1), retry_after(exc) or 0.0)
        await sleep(wait)
        attempt += 1
