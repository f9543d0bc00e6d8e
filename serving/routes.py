"""The HTTP routes of the model services, mounted on each BentoML service with
``@bentoml.asgi_app``: ``POST /predict`` and ``POST /`` (flat; the original callers also posted
to the model URL itself), ``POST /call``, ``POST /api/v1/models/{org}/{name}`` and
``POST /api-inference/v1/models/{org}/{name}`` (ModelScope envelope), ``GET /describe`` and
``GET /health`` (the local ModelScope server's). A wrong method or path is answered in the
caller's dialect too.

They are plain Starlette routes rather than ``@bentoml.api`` methods because the wire format must
be exact in both dialects, including every error: BentoML's own validation answers in its own
shape. The model work goes through the service's methods (``forecast`` / ``classify``), which
use BentoML's adaptive batching where a batch forward pays off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import bentoml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from premarket.protocol import (
    MIN_ROWS,
    ForecastInput,
    ForecastParameters,
    ForecastResult,
    ModelScopeRequest,
    ProtocolError,
    SentimentInput,
)
from serving.describe import ForecastBackend, SentimentBackend
from serving.dialects import (
    Dialect,
    ServiceError,
    dialect_of,
    failure,
    from_protocol,
    from_validation,
    parse_json,
    request_id_of,
    success,
)
from serving.runtime import CallerGone, ModelFault, ModelSlot, check_finite, forecast_values

logger = logging.getLogger("premarket.serving")

INSUFFICIENT = "Insufficient sequence data"
"""The original's error text for too few rows, kept verbatim for its callers."""


def _unwrap(raw: Any, dialect: Dialect) -> tuple[Any, dict[str, Any], str]:
    """The request's payload, its parameters and the field prefix errors should use."""
    if dialect == "flat":
        return raw, {}, ""
    if not isinstance(raw, dict):
        raise ServiceError(400, "body", 'must be a JSON object {"input": ..., "parameters": ...}')
    try:
        envelope = ModelScopeRequest.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc) from None
    if envelope.input is None:
        raise ServiceError(400, "input", "is missing (No input data!)")
    return envelope.input, envelope.parameters, "input"


def _within(prefix: str, field: str) -> str:
    """A field's name in the caller's terms: ``input.sequence_data`` in the envelope."""
    return f"{prefix}.{field}" if prefix else field


def _insufficient(given: int, needed: int, prefix: str) -> ServiceError:
    return ServiceError(
        400,
        _within(prefix, "sequence_data"),
        f"{given} rows given; at least {needed} are needed",
        error=INSUFFICIENT,
        required_minimum=needed,
    )


def _forecast_input(payload: Any, prefix: str, min_rows: int | None) -> ForecastInput:
    """Validate the forecast fields; too few rows is the original's "Insufficient" answer."""
    if not isinstance(payload, dict):
        raise ServiceError(
            400, prefix or "body", "must be a JSON object with symbol and sequence_data"
        )
    try:
        item = ForecastInput.model_validate(payload)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if tuple(err["loc"]) == ("sequence_data",) and err["type"] == "too_short":
                rows = payload.get("sequence_data")
                needed = max(min_rows or MIN_ROWS, MIN_ROWS)
                raise _insufficient(len(rows), needed, prefix) from None
        raise from_validation(exc, prefix) from None
    if min_rows is not None and len(item.sequence_data) < min_rows:
        raise _insufficient(len(item.sequence_data), min_rows, prefix)
    return item


async def _forecast(request: Request) -> Response:
    dialect = dialect_of(request.url.path)
    svc: ForecastBackend = bentoml.get_current_service()
    raw: Any = None
    try:
        raw = parse_json(await request.body())
        payload, parameters, prefix = _unwrap(raw, dialect)
        try:
            options = ForecastParameters.model_validate(parameters)
        except ValidationError as exc:
            raise from_validation(exc, "parameters") from None
        min_rows = svc.min_rows() if svc.slot.ready else None
        item = _forecast_input(payload, prefix, min_rows)
        if min_rows is None:  # not ready: say so after the input proved valid
            svc.slot.get()
        start = time.perf_counter()
        with svc.admission.admit():
            try:
                forecast = await svc.forecast(item, options.include_importance)
            except ServiceError as err:  # this item alone could not be forecast
                if err.status >= 500:
                    raise
                raise ServiceError(err.status, _within(prefix, err.field), err.problem) from None
        check_finite(forecast_values(forecast), "its forecast")
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    except ServiceError as err:
        return failure(dialect, err, request_id=request_id_of(_payload_of(raw, dialect)))
    except ModelFault as exc:
        logger.error("%s: %s", svc.model_used, exc)
        err = ServiceError(500, "model", f"fault: {exc}")
        return failure(dialect, err, request_id=request_id_of(_payload_of(raw, dialect)))
    except Exception:
        logger.exception("forecast failed")
        err = ServiceError(500, "model", "inference failed; see the service log")
        return failure(dialect, err, request_id=request_id_of(_payload_of(raw, dialect)))
    result = ForecastResult.build(
        forecast,
        symbol=item.symbol,
        model_used=svc.model_used,
        inference_time_ms=elapsed_ms,
        request_id=item.request_id,
    )
    return success(
        dialect, result.model_dump(), request_id=item.request_id, inference_ms=elapsed_ms
    )


def _payload_of(raw: Any, dialect: Dialect) -> Any:
    return raw.get("input") if dialect == "modelscope" and isinstance(raw, dict) else raw


async def _classify(request: Request) -> Response:
    dialect = dialect_of(request.url.path)
    svc: SentimentBackend = bentoml.get_current_service()
    try:
        raw = parse_json(await request.body())
        payload, _, prefix = _unwrap(raw, dialect)
        try:
            parsed = SentimentInput.parse(payload)
        except ProtocolError as exc:
            raise from_protocol(exc, prefix) from None
        except ValidationError as exc:
            raise from_validation(exc, prefix) from None
        svc.slot.get()
        start = time.perf_counter()
        work = await asyncio.to_thread(svc.work_of, parsed.texts)
        if work > svc.admission.largest():  # could never be admitted: say so, before any work
            speed = f", about {svc.tokens_per_s:,.0f} tokens/s here" if svc.tokens_per_s else ""
            raise ServiceError(
                413,
                f"{prefix}text" if prefix else "text",
                f"is {work:,} tokens of work; this service takes at most "
                f"{svc.admission.largest():,} at once{speed}: send fewer or shorter texts",
            )
        with svc.admission.admit(work):
            scores = await svc.classify(parsed.texts, gone=request.is_disconnected)
        for score in scores:
            check_finite(score.scores, "its scores")
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    except ServiceError as err:
        return failure(dialect, err)
    except CallerGone as gone:
        return failure(dialect, ServiceError(499, "connection", f"closed; {gone} texts not scored"))
    except ModelFault as exc:
        logger.error("sentiment: %s", exc)
        return failure(dialect, ServiceError(500, "model", f"fault: {exc}"))
    except Exception:
        logger.exception("sentiment failed")
        return failure(dialect, ServiceError(500, "model", "inference failed; see the service log"))
    answers = [s.model_dump() for s in scores]
    data = answers[0] if parsed.single else answers
    return success(dialect, data, request_id=None, inference_ms=elapsed_ms)


async def _describe(_: Request) -> Response:
    return JSONResponse(bentoml.get_current_service().describe())


HEALTHY = {"ready": "ok", "degraded": "degraded"}


async def _health(_: Request) -> Response:
    """``GET /health``: 200 ``{"status": "ok"}``, or ``"degraded"`` with the reason when a
    stand-in answers (the sentiment word list); 503 while loading or after a failed load."""
    slot: ModelSlot[Any] = bentoml.get_current_service().slot
    body = {"status": HEALTHY.get(slot.state, slot.state), "model": slot.status()}
    return JSONResponse(body, status_code=200 if slot.ready else 503)


async def _http_error(request: Request, exc: Exception) -> Response:
    """A wrong method (405) or path (404) in the caller's dialect, not Starlette's plain text."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        problem = f"{request.method} is not allowed here; use {allowed or 'another method'}"
        err = ServiceError(405, "method", problem, headers=dict(exc.headers or {}))
    else:
        err = ServiceError(exc.status_code, "path", f"{request.url.path} {exc.detail}".lower())
    return failure(dialect_of(request.url.path), err)


def _app(handler) -> Starlette:
    return Starlette(
        routes=[
            Route("/", handler, methods=["POST"]),
            Route("/predict", handler, methods=["POST"]),
            Route("/call", handler, methods=["POST"]),
            Route("/api/v1/models/{org}/{name}", handler, methods=["POST"]),
            Route("/api-inference/v1/models/{org}/{name}", handler, methods=["POST"]),
            Route("/describe", _describe, methods=["GET"]),
            Route("/health", _health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )


def forecast_app() -> Starlette:
    """The routes of a forecast service (TFT or N-HITS)."""
    return _app(_forecast)


def sentiment_app() -> Starlette:
    """The routes of the sentiment service."""
    return _app(_classify)
