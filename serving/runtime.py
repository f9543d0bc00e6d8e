"""What every model service shares at run time: where its model comes from, loading it in the
background, readiness, and refusing oversize bodies before they are read.

Loading runs in a thread so that ``/livez`` and ``/metrics`` answer while a large model loads;
``/readyz`` turns 200 only once the model is loaded *and* a warm-up inference on real data
succeeded. A model that fails to load makes ``/livez`` fail too, so a supervisor restarts the
process instead of leaving a live service that can never become ready.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Generic, TypeVar

from serving.dialects import ServiceError, dialect_of, failure

logger = logging.getLogger("premarket.serving")

T = TypeVar("T")

FORECAST_MAX_BODY = 256 * 1024
"""Bytes: 1000 rows of five numbers with dates are about 80 KB of JSON."""
SENTIMENT_MAX_BODY = 2 * 1024 * 1024
"""Bytes: 256 texts of 5000 characters are 1.3 MB of plain JSON."""


TORCH_THREADS_ENV = "PREMARKET_TORCH_THREADS"


def limit_torch_threads() -> int:
    """Set torch's CPU thread pool from ``PREMARKET_TORCH_THREADS`` (default 1); return it.

    The three services share a few cores: with torch's default of one thread per core, every
    forward pass fights the other processes, and a measured TFT forecast took 30-60 ms instead
    of 5-9 ms on two busy cores (sentiment, 8 headlines: 200-300 ms instead of 21 ms). One
    thread per service, with batching for throughput, is faster there; raise it on a big host.
    """
    import torch

    raw = os.environ.get(TORCH_THREADS_ENV, "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{TORCH_THREADS_ENV}={raw!r}: must be a positive integer")
    torch.set_num_threads(int(raw))
    return int(raw)


def model_dir(name: str) -> tuple[str, Path]:
    """The store tag and directory of model ``name``: ``PREMARKET_<NAME>_TAG`` or its latest."""
    from models.store import path_of

    tag = os.environ.get(f"PREMARKET_{name.upper()}_TAG") or name
    path = path_of(tag)
    return f"{name}:{path.name}", path


BATCH_CALL_TRIES = 3


async def call_batch(method: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """Call a batchable API through the service's own client (``self.to_async``), again if the
    client's connection was closed under the request.

    BentoML's internal client replaces its HTTP session every 100 calls and closes the old one
    while other requests may still be using it; those fail with an aiohttp connection error
    ("Cannot write to closing transport") and, unretried, became 500s under concurrent load.
    Inference has no side effects, so trying again is safe. A request the batcher shed because
    the queue could not be served in time (BentoML's 503) is a 503 to the caller too.
    """
    import aiohttp
    from bentoml.exceptions import BentoMLException

    for attempt in range(1, BATCH_CALL_TRIES + 1):
        try:
            return await method(**kwargs)
        except BentoMLException as exc:
            if exc.error_code == HTTPStatus.SERVICE_UNAVAILABLE:
                raise ServiceError(503, "model", "is overloaded; retry shortly") from None
            raise
        except aiohttp.ClientConnectionError as exc:
            if attempt == BATCH_CALL_TRIES:
                raise
            logger.warning("internal batch call lost its connection (%s); retrying", exc)
    raise AssertionError("unreachable: BATCH_CALL_TRIES >= 1")


class ModelSlot(Generic[T]):
    """A model loaded by a background thread, usable once a warm-up inference succeeded."""

    def __init__(self, name: str, load: Callable[[], T], warm_up: Callable[[T], None]) -> None:
        self.name = name
        self.state = "loading"
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.warm_up_ms: float | None = None
        self._model: T | None = None
        self._thread = threading.Thread(
            target=self._load, args=(load, warm_up), name=f"load-{name}", daemon=True
        )
        self._thread.start()

    def _load(self, load: Callable[[], T], warm_up: Callable[[T], None]) -> None:
        start = time.perf_counter()
        try:
            model = load()
            self.load_seconds = round(time.perf_counter() - start, 3)
            warm = time.perf_counter()
            warm_up(model)
            self.warm_up_ms = round((time.perf_counter() - warm) * 1000.0, 3)
        except Exception as exc:
            logger.exception("%s: the model could not be loaded and warmed up", self.name)
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.state = "failed"
            return
        self._model = model
        self.state = "ready"
        logger.info(
            "%s: ready (load %.2f s, warm-up %.1f ms)",
            self.name,
            self.load_seconds or 0,
            self.warm_up_ms or 0,
        )

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def get(self) -> T:
        """The model, or a 503 saying why there is none yet."""
        if self._model is not None:
            return self._model
        if self.state == "failed":
            raise ServiceError(503, "model", f"failed to load ({self.error})")
        raise ServiceError(503, "model", "is still loading; retry shortly")

    def status(self) -> dict[str, object]:
        return {
            "state": self.state,
            "error": self.error,
            "load_seconds": self.load_seconds,
            "warm_up_ms": self.warm_up_ms,
        }


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` with 413, in the caller's dialect.

    A declared ``Content-Length`` is refused before a byte of the body is read; a chunked body is
    read only up to the limit.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(scope, send, 400, "has an invalid Content-Length header")
            elif int(declared) > self.max_bytes:
                await self._refuse(scope, send, 413, self._too_big(int(declared)))
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, send, 413, self._too_big(size, at_least=True))
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_big(self, size: int, at_least: bool = False) -> str:
        more = "more than " if at_least else ""
        return f"is {more}{size} bytes; at most {self.max_bytes} bytes are accepted"

    async def _refuse(self, scope, send, status: int, problem: str) -> None:
        response = failure(dialect_of(scope["path"]), ServiceError(status, "body", problem))
        await response(scope, _drain, send)


async def _drain() -> dict:
    return {"type": "http.disconnect"}
