"""Retries with exponential backoff, for transient errors only.

Model calls and alert deliveries share this rule: a connect error, a timeout, a 429 or a 5xx may
pass if tried again; a 4xx says our request is wrong and retrying it only wastes the deadline.
A service that is busy answers 503 (or 429) with ``Retry-After``: the next try waits that long
(at most ``MAX_RETRY_AFTER_S``; the caller's deadline bounds it anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from premarket.retry import retry

T = TypeVar("T")
MAX_RETRY_AFTER_S = 10.0


class CallError(Exception):
    """A failed call to a service. ``kind`` decides what happens next:

    - ``unreachable``: connect error or timeout (retried; counts against the breaker)
    - ``server``: HTTP 429 or 5xx, or an error envelope with such a code (retried; counts)
    - ``invalid_answer``: not JSON, or not the protocol's schema (not retried; counts)
    - ``rejected``: HTTP 4xx, the service refused our input (not retried; does not count)
    """

    def __init__(
        self,
        kind: str,
        message: str,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def transient(self) -> bool:
        return self.kind in ("unreachable", "server")

    @property
    def service_fault(self) -> bool:
        return self.kind != "rejected"


def kind_of_status(status: int) -> str:
    return "server" if status == 429 or status >= 500 else "rejected"


def retry_after_of(header: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header in its delay form; None when absent or a date."""
    try:
        seconds = float(header) if header is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < float("inf") else None


def _transient(exc: Exception) -> bool:
    return isinstance(exc, CallError) and exc.transient


def _retry_after(exc: Exception) -> float | None:
    seconds = getattr(exc, "retry_after_s", None)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_S)


def _say_attempts(exc: Exception, attempts: int) -> None:
    if isinstance(exc, CallError) and attempts > 1:
        exc.args = (f"{exc} (after {attempts} tries)",)


async def with_retries(
    call: Callable[[], Awaitable[T]], *, tries: int, backoff_s: float
) -> tuple[T, int]:
    """Run ``call`` up to ``tries`` times (``premarket.retry``, the one retry loop of the
    project); return its result and the number of attempts."""
    return await retry(
        call,
        tries=tries,
        transient=_transient,
        backoff_s=backoff_s,
        retry_after=_retry_after,
        on_give_up=_say_attempts,
    )
