"""The HTTP routes of the model services, mounted on each BentoML service with
``@bentoml.asgi_app``: ``POST /predict`` (flat), ``POST /call`` and
``POST /api/v1/models/{org}/{name}`` (ModelScope envelope), ``GET /describe``.

They are plain Starlette routes rather than ``@bentoml.api`` methods because the wire format must
be exact in both dialects, including every error: BentoML's own validation answers in its own
shape. The model work goes through the service's methods (``forecast`` / ``classify``), which
use BentoML's adaptive batching where a batch forward pays off.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any, Protocol

import bentoml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from premarket.protocol import (
    MAX_ROWS,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    MIN_ROWS,
    ForecastInput,
    ForecastParameters,
    ForecastResult,
    ModelScopeRequest,
    PriceForecast,
    ProtocolError,
    SentimentInput,
    SentimentScores,
)
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
from serving.runtime import ModelSlot
from serving.samples import forecast_body, headlines

logger = logging.getLogger("premarket.serving")

INSUFFICIENT = "Insufficient sequence data"
"""The original's error text for too few rows, kept verbatim for its callers."""


class ForecastBackend(Protocol):
    """What the forecast routes need from a service instance."""

    model_used: str
    slot: ModelSlot[Any]

    def min_rows(self) -> int: ...

    async def forecast(self, item: ForecastInput, include_importance: bool) -> PriceForecast: ...

    def describe(self) -> dict[str, Any]: ...


class SentimentBackend(Protocol):
    slot: ModelSlot[Any]

    async def classify(self, texts: list[str]) -> list[SentimentScores]: ...

    def describe(self) -> dict[str, Any]: ...


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


def _insufficient(given: int, needed: int) -> ServiceError:
    return ServiceError(
        400,
        "sequence_data",
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
                raise _insufficient(len(rows), max(min_rows or MIN_ROWS, MIN_ROWS)) from None
        raise from_validation(exc, prefix) from None
    if min_rows is not None and len(item.sequence_data) < min_rows:
        raise _insufficient(len(item.sequence_data), min_rows)
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
        forecast = await svc.forecast(item, options.include_importance)
        if not _usable(forecast):
            raise ServiceError(
                422,
                "sequence_data",
                "values are outside the range the model can forecast "
                "(its forecast is not a finite, positive price)",
            )
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    except ServiceError as err:
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


def _usable(forecast: PriceForecast) -> bool:
    """Finite numbers and positive prices. Valid but absurd input (a close of 1e300) overflows
    a model to NaN, which would otherwise go out as a 200 whose prices are null."""
    values = [forecast.confidence, *(forecast.quantiles or {}).values()]
    prices = [forecast.current_price, *forecast.forecast_path]
    return all(math.isfinite(v) for v in values) and all(math.isfinite(p) and p > 0 for p in prices)


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
        scores = await svc.classify(parsed.texts)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    except ServiceError as err:
        return failure(dialect, err)
    except Exception:
        logger.exception("sentiment failed")
        return failure(dialect, ServiceError(500, "model", "inference failed; see the service log"))
    answers = [s.model_dump() for s in scores]
    data = answers[0] if parsed.single else answers
    return success(dialect, data, request_id=None, inference_ms=elapsed_ms)


async def _describe(_: Request) -> Response:
    return JSONResponse(bentoml.get_current_service().describe())


def _app(handler) -> Starlette:
    return Starlette(
        routes=[
            Route("/predict", handler, methods=["POST"]),
            Route("/call", handler, methods=["POST"]),
            Route("/api/v1/models/{org}/{name}", handler, methods=["POST"]),
            Route("/describe", _describe, methods=["GET"]),
        ]
    )


def forecast_app() -> Starlette:
    """The routes of a forecast service (TFT or N-HITS)."""
    return _app(_forecast)


def sentiment_app() -> Starlette:
    """The routes of the sentiment service."""
    return _app(_classify)


ROUTES = {
    "flat": "POST /predict",
    "modelscope": ["POST /call", "POST /api/v1/models/{org}/{name}"],
    "describe": "GET /describe",
    "health": ["GET /livez", "GET /readyz", "GET /metrics"],
}


def forecast_description(
    svc: ForecastBackend, *, tag: str, device: str, rows_used: int | None, max_body: int
) -> dict[str, Any]:
    """``GET /describe`` of a forecast service: schemas, limits, a real sample, model state."""
    min_rows = svc.min_rows() if svc.slot.ready else None
    return {
        "model_used": svc.model_used,
        "model": {"tag": tag, "device": device, **svc.slot.status()},
        "torch_imported": "torch" in sys.modules,
        "routes": ROUTES,
        "schema": {
            "input": ForecastInput.model_json_schema(),
            "parameters": ForecastParameters.model_json_schema(),
            "output": ForecastResult.model_json_schema(),
        },
        "limits": {
            "min_rows": min_rows,
            "max_rows": MAX_ROWS,
            "rows_used": rows_used,
            "max_body_bytes": max_body,
        },
        "sample": {"input": forecast_body(count=max(30, min_rows or 0)), "parameters": {}},
    }


def sentiment_description(
    svc: SentimentBackend, *, tag: str, version: str | None, device: str, max_body: int
) -> dict[str, Any]:
    """``GET /describe`` of the sentiment service."""
    return {
        "model": {"tag": tag, "version": version, "device": device, **svc.slot.status()},
        "torch_imported": "torch" in sys.modules,
        "routes": ROUTES,
        "schema": {
            "input": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object", "properties": {"text": {"type": "string"}}},
                    {"type": "object", "properties": {"texts": {"type": "array"}}},
                ]
            },
            "output": SentimentScores.model_json_schema(),
        },
        "limits": {
            "max_texts": MAX_TEXTS,
            "max_text_chars": MAX_TEXT_CHARS,
            "max_body_bytes": max_body,
        },
        "sample": {"input": {"text": headlines()[0]}},
    }
