"""The two request dialects every model service speaks, and how each one answers a failure.

- ``flat``: the original callers' body at ``POST /predict``; errors are
  ``{"success": false, "error": ..., "field": ...}`` (the original's shape).
- ``modelscope``: the envelope ``{"input": ..., "parameters": ...}`` at ``POST /call``,
  ``POST /api/v1/models/{org}/{name}`` and ``POST /api-inference/v1/models/{org}/{name}``; every
  answer is ``{"Code", "Success", "Message", "RequestId", "Data"}``.

Everything here is plain Starlette and pydantic, so it can be unit-tested without a server.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any, Literal

from pydantic import ValidationError
from starlette.responses import JSONResponse

from premarket.protocol import ForecastError, ModelScopeResponse, ProtocolError

Dialect = Literal["flat", "modelscope"]

INFERENCE_TIME_HEADER = "X-Inference-Time-Ms"


class ServiceError(Exception):
    """A request the service refuses (4xx) or cannot serve now (5xx), naming the field."""

    def __init__(
        self,
        status: int,
        field: str,
        problem: str,
        *,
        error: str | None = None,
        required_minimum: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.field = field
        self.problem = problem
        self.error = error or f"{field}: {problem}"
        self.required_minimum = required_minimum
        self.headers = headers or {}
        super().__init__(self.error)


RETRY_AFTER_S = 1
"""What a 503 asks the caller to wait (``Retry-After``): a batch or two of the queue."""


def busy(problem: str) -> ServiceError:
    """A 503 that the caller should retry after ``RETRY_AFTER_S`` (overload, loading)."""
    return ServiceError(503, "model", problem, headers={"Retry-After": str(RETRY_AFTER_S)})


def dialect_of(path: str) -> Dialect:
    """The dialect a route speaks: the envelope on ``/call`` and the ModelScope paths."""
    return "modelscope" if path.startswith(("/call", "/api/", "/api-inference/")) else "flat"


def parse_json(body: bytes) -> Any:
    """The request body as JSON, or a 400 that says why it is not JSON.

    ``NaN`` and ``Infinity`` literals are accepted here on purpose: the protocol then refuses
    them by field ("values must be finite numbers") instead of as unreadable JSON.
    """
    if not body.strip():
        raise ServiceError(400, "body", "is empty; send a JSON object")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServiceError(400, "body", f"is not valid JSON ({exc})") from None
    except ValueError as exc:  # an integer literal past Python's 4,300-digit conversion limit
        reason = str(exc).split(";")[0]
        raise ServiceError(400, "body", f"holds a number that cannot be read ({reason})") from None
    except RecursionError:  # e.g. 100 KB of "[": the decoder's stack, not the service, gives out
        raise ServiceError(400, "body", "is nested too deeply to be read as JSON") from None


def field_name(loc: tuple[Any, ...], prefix: str = "") -> str:
    """``('sequence_data', 3, 2)`` -> ``sequence_data[3][2]`` (after ``prefix``)."""
    name = prefix
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or prefix.rstrip(".") or "body"


def from_validation(exc: ValidationError, prefix: str = "") -> ServiceError:
    """The first pydantic error as a 400 naming its field (``prefix`` is ``input`` in envelopes)."""
    err = exc.errors(include_url=False)[0]
    message = str(err["msg"]).removeprefix("Value error, ")
    return ServiceError(400, field_name(tuple(err["loc"]), prefix), message)


def from_protocol(exc: ProtocolError, prefix: str = "") -> ServiceError:
    """A :class:`ProtocolError` (its field is in envelope terms) as a 400 in the caller's terms."""
    inner = exc.field.removeprefix("input").lstrip(".")
    field = f"{prefix}.{inner}" if prefix and inner else prefix or inner or "body"
    return ServiceError(400, field, exc.problem, required_minimum=exc.required_minimum)


def request_id_of(raw: Any) -> str | None:
    """The caller's ``request_id`` when the body carries a usable one (echoed in every answer)."""
    if isinstance(raw, dict):
        value = raw.get("request_id")
        if isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable():
            return value  # a lone surrogate (JSON "\ud800") is not printable: never echoed
    return None


def _finite(value: Any) -> Any:
    """JSON has no NaN: answers never carry one (a model bug must not break the caller's parser)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: an answer that echoes odd input (a lone
    surrogate) still encodes, instead of the encoder failing and the connection dropping."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def _json(
    body: Any, status: int, inference_ms: float | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    headers = dict(headers or {})
    if inference_ms is not None:
        headers[INFERENCE_TIME_HEADER] = f"{inference_ms:.3f}"
    return AsciiJSONResponse(_finite(body), status_code=status, headers=headers)


def success(
    dialect: Dialect, data: Any, *, request_id: str | None, inference_ms: float
) -> JSONResponse:
    """A 200 answer: ``data`` itself (flat) or inside the envelope's ``Data``."""
    if dialect == "flat":
        return _json(data, 200, inference_ms)
    envelope = ModelScopeResponse(
        RequestId=request_id or uuid.uuid4().hex,
        Data=data,
        InferenceTimeMs=round(inference_ms, 3),
    )
    return _json(envelope.model_dump(), 200, inference_ms)


def failure(dialect: Dialect, err: ServiceError, *, request_id: str | None = None) -> JSONResponse:
    """An error answer in the caller's dialect, with the same status on the wire and in ``Code``."""
    if dialect == "flat":
        body = ForecastError(
            error=err.error,
            field=err.field,
            required_minimum=err.required_minimum,
            request_id=request_id,
        ).model_dump(exclude_none=True)
        return _json(body, err.status, headers=err.headers)
    detail = {"field": err.field}
    if err.required_minimum is not None:
        detail["required_minimum"] = err.required_minimum
    envelope = ModelScopeResponse(
        Code=err.status,
        Success=False,
        Message=err.error,
        RequestId=request_id or uuid.uuid4().hex,
        Data=detail,
    )
    return _json(envelope.model_dump(exclude_none=True), err.status, headers=err.headers)
