"""Answers BentoML would give in its own way, given in the services' way instead.

- A path no route serves was a plain-text ``Not Found``, and ``/predict/`` a 307 redirect to
  ``/predict`` (BentoML's router adds slashes): both are a JSON 404 in the caller's dialect.
- A 503 of a direct batch call says when to come back (``Retry-After``), also BentoML's own
  when its batcher sheds the call, unless the model failed to load (then no retry would help).
- A direct call of a batch route (``POST /forecast_batch``, ``POST /classify_batch``) passes
  the same bounded queue as the other routes, weighed by its work: 40 clients sending 64-item
  batches used to bypass it, get BentoML's generic 503s and slow ``/predict`` for everyone.
  The service's own client reaches the batch route for work its route already admitted; that
  call is recognised by :data:`serving.runtime.INTERNAL` and not counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from serving.dialects import RETRY_AFTER_S, ServiceError, dialect_of, failure, parse_json
from serving.runtime import INTERNAL


def batch_list(body: bytes, key: str) -> list[Any]:
    """``body[key]`` when the body is a JSON object holding a list there, else ``[]`` (the
    route itself then says what is wrong with the body)."""
    try:
        raw = parse_json(body)
    except ServiceError:
        return []
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, list) else []


async def admitted_batch(app, scope, receive, send, body: bytes, refuse) -> None:
    """Run a batch-route request inside the service's queue, weighed by ``batch_work(body)``:
    413 when it could never fit, 503 with ``Retry-After`` while the queue is full (and on
    BentoML's own 503s: :func:`with_retry_after`)."""
    if INTERNAL.get():
        await app(scope, receive, send)
        return
    import bentoml

    svc = bentoml.get_current_service()
    with contextlib.ExitStack() as held:
        try:
            weight = await asyncio.to_thread(_weigh, svc, body)
            if weight > svc.admission.largest():
                problem = (
                    f"is {weight:,} units of work; this service takes at most "
                    f"{svc.admission.largest():,} at once: send a smaller batch"
                )
                raise ServiceError(413, "body", problem)
            held.enter_context(svc.admission.admit(weight))
        except ServiceError as err:
            await refuse(scope, send, err)
            return
        await app(scope, receive, with_retry_after(send, svc))


def _weigh(svc, body: bytes) -> int:
    """The work ``body`` is; 1 for texts the model cannot even weigh (a lone surrogate), which
    the batch route then refuses by field."""
    try:
        return svc.batch_work(body)
    except (TypeError, ValueError):
        return 1


def _slash_redirect(status: int, headers: dict[bytes, bytes], path: str) -> bool:
    if status not in (307, 308) or b"location" not in headers:
        return False
    target = urlsplit(headers[b"location"].decode("latin-1")).path
    return target.rstrip("/") == path.rstrip("/")


def _not_found(status: int, headers: dict[bytes, bytes], path: str) -> bool:
    plain = headers.get(b"content-type", b"").startswith(b"text/plain")
    return (status == 404 and plain) or _slash_redirect(status, headers, path)


async def disconnected() -> dict:
    """``receive`` for an answer given without reading the request."""
    return {"type": "http.disconnect"}


def in_dialect(scope, send) -> Callable[[dict], Awaitable[None]]:
    """``send`` for one request, with the answers above rewritten on their way out."""
    replaced = False

    async def sending(message: dict) -> None:
        nonlocal replaced
        if replaced:
            return  # the body of an answer that was replaced
        if message["type"] == "http.response.start":
            headers = [(name.lower(), value) for name, value in message.get("headers", [])]
            found = dict(headers)
            if _not_found(message["status"], found, scope["path"]):
                replaced = True
                err = ServiceError(404, "path", f"{scope['path']} is not a route of this service")
                await failure(dialect_of(scope["path"]), err)(scope, disconnected, send)
                return
        await send(message)

    return sending


def with_retry_after(send, svc) -> Callable[[dict], Awaitable[None]]:
    """``send`` that adds ``Retry-After`` to a 503 without one (BentoML's own, when its batcher
    sheds a direct batch call or the model is still loading), unless the model failed to load:
    retrying that soon would not help, and the service's own 503 then says why instead."""

    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] == 503:
            headers = list(message.get("headers", []))
            if svc.slot.state != "failed" and not any(
                n.lower() == b"retry-after" for n, _ in headers
            ):
                headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
                message = {**message, "headers": headers}
        await send(message)

    return sending
