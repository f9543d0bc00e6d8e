"""What every model service shares at run time: where its model comes from, loading it in the
background, readiness, the bounded queue in front of the model and the internal batch call.

Loading runs in a thread so that ``/livez`` and ``/metrics`` answer while a large model loads;
``/readyz`` turns 200 only once the model is loaded *and* a warm-up inference on real data
succeeded. A model that fails to load makes ``/livez`` fail too, so a supervisor restarts the
process instead of leaving a live service that can never become ready.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from http import HTTPStatus
from pathlib import Path
from typing import Any, Generic, TypeVar

from premarket import service_env
from premarket.protocol import PriceForecast
from premarket.retry import retry
from serving.dialects import ServiceError, busy

logger = logging.getLogger("premarket.serving")

T = TypeVar("T")

FORECAST_MAX_BODY = 256 * 1024
"""Bytes: 1000 rows of five numbers with dates are about 80 KB of JSON."""
SENTIMENT_MAX_BODY = 2 * 1024 * 1024
"""Bytes: 256 texts of 5000 characters are 1.3 MB of plain JSON."""


TORCH_THREADS_ENV = service_env.name("TORCH_THREADS")
CAPACITY_ENV = service_env.name("QUEUE_CAPACITY")


def limit_torch_threads() -> int:
    """Set torch's CPU thread pool from ``PREMARKET_SERVICE_TORCH_THREADS`` (default 1); return it.

    The three services share a few cores: with torch's default of one thread per core, every
    forward pass fights the other processes, and a measured TFT forecast took 30-60 ms instead
    of 5-9 ms on two busy cores (sentiment, 8 headlines: 200-300 ms instead of 21 ms). One
    thread per service, with batching for throughput, is faster there; raise it on a big host.
    """
    import torch

    raw = service_env.read("TORCH_THREADS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{TORCH_THREADS_ENV}={raw!r}: must be a positive integer")
    torch.set_num_threads(int(raw))
    return int(raw)


def model_dir(name: str) -> tuple[str, Path]:
    """The store tag and directory of model ``name``: ``PREMARKET_SERVICE_<NAME>_TAG`` or its
    latest."""
    from models.store import path_of

    tag = service_env.read(f"{name.upper()}_TAG") or name
    path = path_of(tag)
    return f"{name}:{path.name}", path


BATCH_CALL_TRIES = 3

INTERNAL: ContextVar[bool] = ContextVar("premarket_internal_batch_call", default=False)
"""True inside :func:`call_batch`. The service's own client reaches the batch route through the
app in this process (an ASGI connector that runs the app in a task started with a copy of the
calling context), so the guard sees the flag and does not count work the route has admitted
already (``serving.answers.admitted_batch``). A self-proxy over the network
(``BENTOCLOUD_DEPLOYMENT_URL``) would lose it; this project never sets that."""

RUNNER_CONNECTION = {"max_requests": 2**31 - 1, "max_age": 1e9}
"""``runner_connection`` of every batching service: BentoML's internal client (``self.to_async``)
otherwise replaces its HTTP session every 100 calls and closes the old one under the requests
still using it ("Cannot write to closing transport", 500s at 200-300 concurrent clients). Its
connector is the service's own app, in-process: nothing can go stale, so it is never replaced."""


async def call_batch(method: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """Call a batchable API through the service's own client (``self.to_async``), again if the
    client's connection was closed under the request (inference has no side effects).

    A request the batcher shed because its queue could not be served in time (BentoML's 503) is
    a 503 with ``Retry-After`` to the caller too.
    """
    import aiohttp
    from bentoml.exceptions import BentoMLException

    internal = INTERNAL.set(True)
    try:
        result, _ = await retry(
            lambda: method(**kwargs),
            tries=BATCH_CALL_TRIES,
            transient=lambda exc: isinstance(exc, aiohttp.ClientConnectionError),
        )
    except BentoMLException as exc:
        if exc.error_code == HTTPStatus.SERVICE_UNAVAILABLE:
            raise busy("is overloaded; retry shortly") from None
        raise
    finally:
        INTERNAL.reset(internal)
    return result


class CallerGone(Exception):
    """The caller left before its work was done; the rest of it was not computed. Its answer
    (499, nginx's "client closed request") reaches nobody but the access log and ``/metrics``."""


class ModelFault(RuntimeError):
    """The model itself misbehaved (a non-finite output): not the caller's input."""


def check_finite(values: Iterable[float], what: str) -> None:
    """Raise :class:`ModelFault` unless every value is a finite number."""
    if not all(math.isfinite(v) for v in values):
        raise ModelFault(f"{what} is not finite: the model is faulty (corrupt weights?)")


def forecast_values(forecast: PriceForecast) -> list[float]:
    """Every number of a forecast, to check with :func:`check_finite`."""
    return [
        forecast.current_price,
        forecast.confidence,
        *forecast.forecast_path,
        *(forecast.quantiles or {}).values(),
    ]


_PATH = re.compile(r"""(?<![\w.])(?:[A-Za-z]:)?[/\\][^\s'"<>()]+""")


def public_error(exc: BaseException) -> str:
    """``Type: first line`` of an exception, fit for an answer: no filesystem path (the model
    store's location is nobody's business but the operator's; the log has it)."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return _PATH.sub("<path>", text)


class Admission:
    """A bounded queue: at most ``capacity`` units of work (requests, or texts) in flight.

    Beyond it a request is refused at once with 503 and ``Retry-After`` instead of waiting in an
    unbounded queue until something times out. ``reserve`` units are kept for small requests
    (``weight <= reserve``): a few big requests cannot shut out one-headline calls.
    """

    def __init__(self, capacity: int, reserve: int = 0) -> None:
        if capacity < 1 or not 0 <= reserve < capacity:
            raise ValueError(
                f"capacity={capacity}, reserve={reserve}: need 0 <= reserve < capacity"
            )
        self.capacity = capacity
        self.reserve = reserve
        self.in_flight = 0

    @contextlib.contextmanager
    def admit(self, weight: int = 1) -> Iterator[None]:
        """Hold ``weight`` units for the duration of the block, or raise a 503 ``ServiceError``."""
        limit = self.capacity if weight <= self.reserve else self.capacity - self.reserve
        if self.in_flight + weight > limit:
            raise busy(f"is at capacity ({self.in_flight} of {self.capacity} in flight); retry")
        self.in_flight += weight
        try:
            yield
        finally:
            self.in_flight -= weight

    def resize(self, capacity: int, reserve: int) -> None:
        """New bounds (the sentiment service sizes its queue once it has measured its speed)."""
        if capacity < 1 or not 0 <= reserve < capacity:
            raise ValueError(
                f"capacity={capacity}, reserve={reserve}: need 0 <= reserve < capacity"
            )
        self.capacity, self.reserve = capacity, reserve

    def largest(self) -> int:
        """The largest weight that can ever be admitted (all but the reserve)."""
        return self.capacity - self.reserve

    def status(self) -> dict[str, int]:
        return {"capacity": self.capacity, "reserve": self.reserve, "in_flight": self.in_flight}


def capacity_from_env(default: int) -> int:
    """``PREMARKET_SERVICE_QUEUE_CAPACITY`` (a positive integer) or ``default``."""
    raw = service_env.read("QUEUE_CAPACITY", str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{CAPACITY_ENV}={raw!r}: must be a positive integer")
    return int(raw)


class ModelSlot(Generic[T]):
    """A model loaded by a background thread, usable once a warm-up inference succeeded.

    ``warm_up`` raises (e.g. :class:`ModelFault` on a non-finite output) to keep a broken model
    from ever being ready. ``degraded`` says why a loaded model is a stand-in (the sentiment
    word list), or None: such a slot answers, with state ``degraded`` and the reason in
    ``error``.
    """

    def __init__(
        self,
        name: str,
        load: Callable[[], T],
        warm_up: Callable[[T], None],
        degraded: Callable[[T], str | None] = lambda _: None,
    ) -> None:
        self.name = name
        self.state = "loading"
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.warm_up_ms: float | None = None
        self._model: T | None = None
        self._thread = threading.Thread(
            target=self._load, args=(load, warm_up, degraded), name=f"load-{name}", daemon=True
        )
        self._thread.start()

    def _load(self, load, warm_up, degraded) -> None:
        start = time.perf_counter()
        try:
            model = load()
            self.load_seconds = round(time.perf_counter() - start, 3)
            warm = time.perf_counter()
            warm_up(model)
            self.warm_up_ms = round((time.perf_counter() - warm) * 1000.0, 3)
            reason = degraded(model)
        except Exception as exc:
            logger.exception("%s: the model could not be loaded and warmed up", self.name)
            self.error = public_error(exc)
            self.state = "failed"
            return
        self._model = model
        if reason is not None:
            logger.error("%s: degraded: %s", self.name, reason)
            self.error = _PATH.sub("<path>", reason)
            self.state = "degraded"
            return
        self.state = "ready"
        logger.info(
            "%s: ready (load %.2f s, warm-up %.1f ms)",
            self.name,
            self.load_seconds or 0,
            self.warm_up_ms or 0,
        )

    @property
    def ready(self) -> bool:
        """The model answers (``ready``, or ``degraded`` to a stand-in)."""
        return self.state in ("ready", "degraded")

    def get(self) -> T:
        """The model, or a 503 saying why there is none yet."""
        if self._model is not None:
            return self._model
        if self.state == "failed":
            raise ServiceError(503, "model", f"failed to load ({self.error})")
        raise busy("is still loading; retry shortly")

    def status(self) -> dict[str, object]:
        return {
            "state": self.state,
            "error": self.error,
            "load_seconds": self.load_seconds,
            "warm_up_ms": self.warm_up_ms,
        }
