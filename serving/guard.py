"""What stands between the network and a model service: the bearer token, the request's
framing, body size and read timeouts, and the admission of direct batch calls. Everything here
answers in the caller's dialect, before any model work starts.

- :class:`Guard` (ASGI middleware): when ``PREMARKET_SERVICE_TOKEN`` is set, every route except
  the probes (``/livez``, ``/readyz``, ``/healthz``, ``/health``) and ``/describe`` needs
  exactly one ``Authorization: Bearer <token>`` header (401 otherwise; two headers are refused,
  since proxies and servers disagree on which one counts), including BentoML's own batch routes
  and ``/metrics``. A request declaring both ``Content-Length`` and chunked framing is a 400
  (the two framings are how requests are smuggled past proxies); a body must be declared
  ``application/json`` (415 otherwise, so a browser page cannot post to the service as a
  "simple" cross-origin request); a body over the limit is a 413 (from ``Content-Length`` alone
  when it is declared), and one that has not fully arrived ``PREMARKET_SERVICE_READ_TIMEOUT_S``
  seconds after its headers (default 10) a 408. A direct call of the batch route (``batch_path``)
  passes the same bounded queue as the other routes (:mod:`serving.answers`).
- :class:`ServiceHeaderDeadline` (uvicorn protocol): a connection whose request headers have not
  arrived within the same timeout is answered 408 and closed
  (:class:`premarket.http_server.HeaderDeadline`).
"""

from __future__ import annotations

import asyncio
import hmac
import os

from premarket import service_env
from premarket.http_server import HeaderDeadline, framed_twice, is_json
from serving.answers import admitted_batch, disconnected, in_dialect
from serving.dialects import ServiceError, dialect_of, failure
from serving.metrics_labels import label_by_route

TOKEN_ENV = service_env.name("TOKEN")
READ_TIMEOUT_ENV = service_env.name("READ_TIMEOUT_S")
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/health", "/describe"})
"""Probes and self-description: answered without a token (they carry no model output)."""
BODY_METHODS = ("POST", "PUT", "PATCH")


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


def framing_problem(headers: list[tuple[bytes, bytes]], method: str) -> ServiceError | None:
    """What is wrong with a request's framing or declared type, before its body is read."""
    if framed_twice([name.decode("latin-1").lower() for name, _ in headers]):
        problem = "declares both Content-Length and Transfer-Encoding; send one of them"
        return ServiceError(400, "headers", problem, headers={"Connection": "close"})
    if method not in BODY_METHODS:
        return None
    content_type = dict(headers).get(b"content-type", b"").decode("latin-1")
    if not is_json(content_type):
        given = content_type or "none"
        problem = f"is {given!r}; send the body as 'Content-Type: application/json'"
        return ServiceError(415, "Content-Type", problem, headers={"Connection": "close"})
    return None


class Guard:
    """ASGI middleware: token, framing, body limit, body read timeout and batch admission (see
    the module docstring)."""

    def __init__(self, app, max_bytes: int, batch_path: str | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.batch_path = batch_path
        self.timeout_s = read_timeout_s()
        self.token = service_token()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = in_dialect(scope, send)
        if (
            self.token is not None
            and scope["path"] not in OPEN_PATHS
            and not self._authorized(scope)
        ):
            problem = "exactly one valid 'Authorization: Bearer <token>' header is required"
            err = ServiceError(
                401, "authorization", problem, headers={"WWW-Authenticate": "Bearer"}
            )
            await self._refuse(scope, send, err)
            return
        if (err := framing_problem(scope["headers"], scope["method"])) is not None:
            await self._refuse(scope, send, err)
            return
        if scope["method"] not in BODY_METHODS:
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

        if scope["path"] == self.batch_path:
            await admitted_batch(self.app, scope, replay, send, body, self._refuse)
            return
        await self.app(scope, replay, send)

    def _authorized(self, scope) -> bool:
        given = [value for name, value in scope["headers"] if name.lower() == b"authorization"]
        if len(given) != 1:
            return False
        scheme, _, token = given[0].partition(b" ")
        assert self.token is not None
        return scheme.lower() == b"bearer" and hmac.compare_digest(
            token.strip(), self.token.encode()
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
        await failure(dialect_of(scope["path"]), err)(scope, disconnected, send)


class ServiceHeaderDeadline(HeaderDeadline):
    """The header deadline answering in the services' flat dialect."""

    extra_fields = {"success": False, "model_used": "None"}


class _TooBig(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def install() -> None:
    """Called on import by each service module, before BentoML starts its server: the header
    deadline, ``/metrics`` labelled by route (:mod:`serving.metrics_labels`), and the token for
    the service's own client (see :func:`service_token`).

    BentoML builds uvicorn's config itself with ``http="auto"`` and offers no hook for the
    protocol class; uvicorn resolves ``auto`` through ``HTTP_PROTOCOLS`` when the server starts,
    after the service module was imported, so :class:`ServiceHeaderDeadline` is registered there.
    """
    import uvicorn.config

    service_env.check()
    label_by_route()
    ServiceHeaderDeadline.timeout_s = read_timeout_s()
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:ServiceHeaderDeadline"
    service_token()
