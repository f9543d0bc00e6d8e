"""What every HTTP server of the project (the model services and the results API) shares: a
deadline for each request's headers, the request rules both enforce (one framing, a JSON
body), and a log filter that keeps a flood of one error to a few lines.

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


def is_json(content_type: str) -> bool:
    """``application/json`` (any parameters) or an ``application/...+json`` type: a body a
    browser page cannot send as a "simple" cross-origin request."""
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def framed_twice(names: list[str]) -> bool:
    """Both ``Content-Length`` and ``Transfer-Encoding`` (lower-case header ``names``): the
    ambiguity requests are smuggled past proxies with."""
    return "content-length" in names and "transfer-encoding" in names


class HeaderDeadline(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with a deadline for each request's headers.

    The clock starts when the connection opens and again after each answer. When it runs out
    while no request is running (none started, or the last one was answered), the connection
    is closed: with a 408 when part of a next request had arrived (its headers never
    completed), silently when nothing had (an idle keep-alive connection, which a client may
    be about to reuse: a 408 there could be read as the answer to its next request). A request
    pipelined behind the answered one is running, not late, and is left alone; this holds for
    both of uvicorn's parsers (h11 starts it inside ``on_response_complete``, httptools as soon
    as its headers arrive). Subclasses set ``timeout_s`` and the answer's extra fields.
    """

    timeout_s: ClassVar[float] = 10.0
    extra_fields: ClassVar[dict[str, Any]] = {}

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        self._heard = True
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()

    def connection_lost(self, exc) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._heard = self.cycle is not None and not self.cycle.response_complete
        self._deadline = self.loop.call_later(self.timeout_s, self._expire)

    def _expire(self) -> None:
        self._deadline = None
        running = self.cycle is not None and not self.cycle.response_complete
        if running or self.transport.is_closing():
            return
        if self._heard:
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


MAX_KINDS = 1_000
"""Kinds of error remembered at once (the filter's memory stays bounded)."""


class RepeatFilter(logging.Filter):
    """Lets the first record of a kind through, then at most one per ``window_s`` seconds,
    which says how many like it were left out. A kind is the logger, the message template and
    the exception type (the message template's first 200 characters): a flood of accept or
    open errors is a few lines, not a million."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, str(record.msg)[:200], record.exc_info[0] if record.exc_info else None)
        now = self.clock()
        last, left_out = self._seen.get(kind, (float("-inf"), 0))
        if now - last < self.window_s:
            self._seen[kind] = (last, left_out + 1)
            return False
        if len(self._seen) >= MAX_KINDS:  # messages formatted in place are each a kind: forget
            self._seen.clear()
        self._seen[kind] = (now, 0)
        if left_out:
            # counted since the last one shown, which may be long ago: say how long
            record.msg = f"{record.msg} ({left_out} more like this in the {now - last:.0f} s since)"
        return True
