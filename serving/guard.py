"""What stands between the network and a model service: the bearer token, body size and read
timeouts. Everything here answers in the caller's dialect, before any model work starts.

- :class:`Guard` (ASGI middleware): when ``PREMARKET_SERVICE_TOKEN`` is set, every route except
  the probes (``/livez``, ``/readyz``, ``/healthz``, ``/health``) and ``/describe`` needs
  ``Authorization: Bearer <token>`` (401 otherwise), including BentoML's own batch routes and
  ``/metrics`` (it names every path and caller pattern it has seen). A body over the limit is refused with 413 (from ``Content-Length`` alone when it
  is declared), and a body that has not fully arrived ``PREMARKET_SERVICE_READ_TIMEOUT_S`` seconds after
  its headers (default 10) with 408.
- :class:`HeaderDeadline` (uvicorn protocol): a connection whose request headers have not
  arrived within the same timeout is answered 408 and closed. uvicorn has no such timeout, and
  1,000 connections trickling a byte at a time were otherwise held for as long as they liked.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from premarket import service_env
from serving.dialects import ServiceError, dialect_of, failure

TOKEN_ENV = service_env.name("TOKEN")
READ_TIMEOUT_ENV = service_env.name("READ_TIMEOUT_S")
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/health", "/describe"})
"""Probes and self-description: answered without a token (they carry no model output)."""


def read_timeout_s() -> float:
    """``PREMARKET_SERVICE_READ_TIMEOUT_S``: seconds allowed for a request's headers, then its
    body."""
    raw = service_env.read("READ_TIMEOUT_S", "10")
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise ValueError(f"{READ_TIMEOUT_ENV}={raw!r}: must be a number of seconds (0-3600]")
    return value


def service_token() -> str | None:
    """The bearer token the service requires (``PREMARKET_SERVICE_TOKEN``), or None.

    The service's own in-process client (``self.to_async``, BentoML's batching path) sends
    ``BENTO_CLOUD_API_KEY`` as its bearer token, so that variable is set to the same value in
    this process: the batch routes stay closed to everyone else.
    """
    token = os.environ.get(TOKEN_ENV) or None
    if token is not None:
        os.environ["BENTO_CLOUD_API_KEY"] = token
    return token


class Guard:
    """ASGI middleware: token, body limit and body read timeout (see the module docstring)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = read_timeout_s()
        self.token = service_token()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            self.token is not None
            and scope["path"] not in OPEN_PATHS
            and not self._authorized(scope)
        ):
            problem = "a valid 'Authorization: Bearer <token>' header is required"
            err = ServiceError(
                401, "authorization", problem, headers={"WWW-Authenticate": "Bearer"}
            )
            await self._refuse(scope, send, err)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._refuse(scope, send, self._body(400, "has an invalid Content-Length header"))
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(scope, send, self._body(413, self._too_big(int(declared))))
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            problem = f"did not arrive within {self.timeout_s:g} s of the headers"
            await self._refuse(scope, send, self._body(408, problem))
            return
        except _TooBig as exc:
            await self._refuse(scope, send, self._body(413, self._too_big(exc.size, True)))
            return
        if body is None:
            return  # the client went away
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _authorized(self, scope) -> bool:
        scheme, _, given = dict(scope["headers"]).get(b"authorization", b"").partition(b" ")
        assert self.token is not None
        return scheme.lower() == b"bearer" and hmac.compare_digest(
            given.strip(), self.token.encode()
        )

    async def _read(self, receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                raise _TooBig(size)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_big(self, size: int, at_least: bool = False) -> str:
        more = "more than " if at_least else ""
        return f"is {more}{size} bytes; at most {self.max_bytes} bytes are accepted"

    @staticmethod
    def _body(status: int, problem: str) -> ServiceError:
        # The rest of the body is never read: the connection is closed after the answer.
        return ServiceError(status, "body", problem, headers={"Connection": "close"})

    @staticmethod
    async def _refuse(scope, send, err: ServiceError) -> None:
        await failure(dialect_of(scope["path"]), err)(scope, _disconnected, send)


class _TooBig(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _disconnected() -> dict:
    return {"type": "http.disconnect"}


def _header_timeout_answer(seconds: float) -> bytes:
    body = json.dumps(
        {
            "success": False,
            "error": f"headers: did not arrive within {seconds:g} s",
            "model_used": "None",
            "field": "headers",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class HeaderDeadline(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with a deadline for each request's headers.

    The clock starts when the connection opens and again after each answer. When it runs out
    and no new request has started meanwhile (its headers never completed), the connection is
    answered 408 and closed. An idle keep-alive connection is closed by uvicorn earlier.
    """

    timeout_s = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._await_headers()

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
        waiting_on = self.cycle
        self._deadline = self.loop.call_later(self.timeout_s, self._expire, waiting_on)

    def _expire(self, waiting_on) -> None:
        self._deadline = None
        if self.cycle is waiting_on and not self.transport.is_closing():
            self.transport.write(_header_timeout_answer(self.timeout_s))
            self.transport.close()


def install() -> None:
    """Called on import by each service module, before BentoML starts its server: the header
    deadline, and the token for the service's own client (see :func:`service_token`).

    BentoML builds uvicorn's config itself with ``http="auto"`` and offers no hook for the
    protocol class; uvicorn resolves ``auto`` through ``HTTP_PROTOCOLS`` when the server starts,
    after the service module was imported, so :class:`HeaderDeadline` is registered there.
    """
    import uvicorn.config

    service_env.check()
    HeaderDeadline.timeout_s = read_timeout_s()
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:HeaderDeadline"
    service_token()
