"""Retries with exponential backoff, for transient errors only.

Model calls and alert deliveries share this rule: a connect error, a timeout, a 429 or a 5xx may
pass if tried again; a 4xx says our request is wrong and retrying it only wastes the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class CallError(Exception):
    """A failed call to a service. ``kind`` decides what happens next:

    - ``unreachable``: connect error or timeout (retried; counts against the breaker)
    - ``server``: HTTP 429 or 5xx, or an error envelope with such a code (retried; counts)
    - ``invalid_answer``: not JSON, or not the protocol's schema (not retried; counts)
    - ``rejected``: HTTP 4xx, the service refused our input (not retried; does not count)
    """

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status

    @property
    def transient(self) -> bool:
        return self.kind in ("unreachable", "server")

    @property
    def service_fault(self) -> bool:
        return self.kind != "rejected"


def kind_of_status(status: int) -> str:
    return "server" if status == 429 or status >= 500 else "rejected"


async def with_retries(
    call: Callable[[], Awaitable[T]], *, tries: int, backoff_s: float
) -> tuple[T, int]:
    """Run ``call`` up to ``tries`` times; return its result and the number of attempts."""
    for attempt in range(1, tries + 1):
        try:
            return await call(), attempt
        except CallError as exc:
            if not exc.transient or attempt == tries:
                if attempt > 1:
                    exc.args = (f"{exc} (after {attempt} tries)",)
                raise
        await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable: tries >= 1")
