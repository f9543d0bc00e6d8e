"""What the results API does before it trusts a request: size, framing, type, time, JSON,
schema; and what it logs.

FastAPI reads and parses a declared body before the handler runs, so an unauthenticated client
could make the server hold a body of any size (100 MB took the process from 207 MB to 830 MB)
before the token was even looked at. ``POST /analyze`` therefore checks the token first and
then reads its body here: refused with 413 by its ``Content-Length`` or as soon as it streams past ``MAX_BODY_BYTES``, 408 when it has
not arrived within ``api.read_timeout_s``, 415 unless declared JSON; errors name the field
(``symbols``, or ``body`` for bad JSON).

A request framed both by ``Content-Length`` and chunked is refused on every route, token or
not (:class:`OneFraming`): that ambiguity is how requests are smuggled past proxies, a matter of
the connection rather than of one route.

uvicorn's access log writes each request's full path; a token someone put in ``?token=`` would
land in the log. ``access_log_config`` logs paths without their query values, and a repeated
error a few times only (``premarket.http_server.RepeatFilter``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from premarket.http_server import framed_twice, is_json

MAX_BODY_BYTES = 64 * 1024
"""The largest ``POST /analyze`` body (200 tickers and the options take under 4 KB)."""
M = TypeVar("M", bound=BaseModel)


class OneFraming:
    """ASGI middleware: a request framed both by ``Content-Length`` and chunked gets a 400
    naming ``headers`` (and the connection closed) before any route or token check."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        names = [name.decode("latin-1").lower() for name, _ in scope.get("headers", ())]
        if scope["type"] == "http" and framed_twice(names):
            problem = "headers: both Content-Length and Transfer-Encoding; send one"
            answer = JSONResponse(
                {"error": problem, "field": "headers"}, 400, headers={"Connection": "close"}
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyError(Exception):
    """A refused request body: status, message, and the field it concerns."""

    def __init__(self, status: int, error: str, field: str) -> None:
        super().__init__(error)
        self.status, self.error, self.field = status, error, field


async def read_body(request: Request, model: type[M], timeout_s: float) -> M | None:
    """The body as ``model``; None when there is none. Call only after authorising.

    A body must be declared ``application/json`` (a browser page cannot send that as a
    "simple" cross-origin request), and it must arrive within ``timeout_s`` seconds (408;
    ``api.read_timeout_s``)."""
    headers = request.headers
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyError(413, f"body: {declared} bytes; at most {MAX_BODY_BYTES}", "body")
    try:
        async with asyncio.timeout(timeout_s):
            raw = await _read(request)
    except TimeoutError:
        raise BodyError(408, f"body: did not arrive within {timeout_s:g} s", "body") from None
    if not raw.strip():
        return None
    kind = headers.get("content-type", "")
    if not is_json(kind):
        problem = f"Content-Type: {kind or 'none'!r}; send the body as application/json"
        raise BodyError(415, problem, "Content-Type")
    try:
        data = json.loads(raw)
    except ValueError as exc:  # also a body that is not UTF-8, or a 5,000-digit integer
        raise BodyError(422, f"body: not valid JSON ({str(exc).splitlines()[0]})", "body") from None
    except RecursionError:  # e.g. 60,000 nested "[": the decoder's stack gives out, not the API
        raise BodyError(422, "body: nested too deeply to be read as JSON", "body") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise BodyError(422, f"{field}: {err['msg']}", field) from None


async def _read(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyError(413, f"body: more than {MAX_BODY_BYTES} bytes", "body")
        chunks.append(chunk)
    return b"".join(chunks)


def without_query_values(path: str) -> str:
    """``/results?token=abc&date=x`` -> ``/results?token=-&date=-``: which keys, no values."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    keys = [(k, "-") for k, _ in parse_qsl(query, keep_blank_values=True)]
    return f"{base}?{urlencode(keys)}" if keys else base


class QueryRedactor(logging.Filter):
    """Rewrites uvicorn's access records (client, method, path, version, status) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], without_query_values(args[2]), *args[3:])
        return True


def access_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with the access log's query values left out, and
    a repeated error (accept failures, "Too many open files") logged a few times, not a million
    (``premarket.http_server.RepeatFilter``); asyncio's own errors go the same way."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query"] = {"()": QueryRedactor}
    config["filters"]["repeats"] = {"()": "premarket.http_server.RepeatFilter"}
    config["handlers"]["access"]["filters"] = ["no_query"]
    config["handlers"]["default"]["filters"] = ["repeats"]
    config["loggers"]["asyncio"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config
