"""A deadline for each request's headers, for every HTTP server of the project (the model
services and the results API), and a log filter that keeps a flood of one error to a few lines.

uvicorn has no header timeout: 1,000 connections trickling a byte at a time were held for as
long as they liked, and with a low open-file limit every real request then timed out while
"Too many open files" was logged hundreds of thousands of times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class HeaderDeadline(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with a deadline for each request's headers.

    The clock starts when the connection opens and again after each answer. When it runs out
    and no new request has started meanwhile (its headers never completed), the connection is
    answered 408 and closed. A request that was pipelined behind the answered one has its
    headers already: it is running, not late, and is left alone. An idle keep-alive connection
    is closed by uvicorn earlier. Subclasses set ``timeout_s`` and the answer's extra fields
    (the caller's dialect).
    """

    timeout_s: ClassVar[float] = 10.0
    extra_fields: ClassVar[dict[str, Any]] = {}

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._await_headers(self.cycle)

    def on_response_complete(self) -> None:
        answered = self.cycle  # uvicorn starts a pipelined request inside the call below
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers(answered)

    def connection_lost(self, exc) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _await_headers(self, answered) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.timeout_s, self._expire, answered)

    def _expire(self, answered) -> None:
        self._deadline = None
        if self.cycle is answered and not self.transport.is_closing():
            self.transport.write(self.answer())
            self.transport.close()

    @classmethod
    def answer(cls) -> bytes:
        """The raw 408: JSON naming ``headers``, then the connection closes."""
        problem = f"headers: did not arrive within {cls.timeout_s:g} s"
        body = json.dumps({**cls.extra_fields, "error": problem, "field": "headers"}).encode()
        head = (
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


class RepeatFilter(logging.Filter):
    """Lets the first record of a kind through, then at most one per ``window_s`` seconds,
    which says how many like it were left out. A kind is the logger, the message template and
    the exception type: a flood of accept or open errors is a few lines, not a million."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.msg, record.exc_info[0] if record.exc_info else None)
        now = self.clock()
        last, left_out = self._seen.get(kind, (float("-inf"), 0))
        if now - last < self.window_s:
            self._seen[kind] = (last, left_out + 1)
            return False
        self._seen[kind] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} ({left_out} more like this in the last {self.window_s:g} s)"
        return True
