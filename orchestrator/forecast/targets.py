"""One model endpoint (local Bento or ModelScope) in either dialect of ``premarket.protocol``.

- ``flat``: the original body at ``POST {url}/predict``, answered by a flat object.
- ``modelscope``: the envelope ``{"input": ..., "parameters": ...}`` posted to ``{url}/call``,
  or to the URL itself when it already is a ModelScope model path (``.../models/{org}/{name}``,
  as the hosted API is addressed); answered by ``{"Code", "Success", "Message", "Data"}``.

Every failure becomes a ``CallError`` whose kind decides retry and breaker accounting; an answer
that parses but makes no sense (``orchestrator.forecast.answers``) is an ``invalid_answer``. The
bearer token is sent as a header and appears nowhere else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import ValidationError

from orchestrator.common.redact import redact, register
from orchestrator.common.retry import CallError, kind_of_status, retry_after_of
from orchestrator.data.market import Bars
from orchestrator.forecast.answers import (
    MAX_ANSWER_BYTES,
    AnswerError,
    check_forecast,
    check_sentiment,
    parse_json,
)
from premarket.protocol import (
    ForecastResult,
    ModelScopeResponse,
    SentimentScores,
    utc_now_iso,
)
from premarket.settings import Target

INFERENCE_TIME_HEADER = "X-Inference-Time-Ms"
"""The model time a service reports with its answer (the serving side's header)."""
CLIENT_VERSION = "premarket-orchestrator/0.1"


class TargetClient:
    """Calls to one configured target; ``name`` is its role (tft, nhits, sentiment)."""

    def __init__(self, name: str, target: Target, http: httpx.AsyncClient) -> None:
        self.name = name
        self.target = target
        self.http = http
        self.compute_ms = 0.0
        """Model time the service reported for the answers so far (``X-Inference-Time-Ms`` or
        the envelope's ``InferenceTimeMs``; 0 for a service that reports none)."""
        if target.token is not None:
            register(target.token.get_secret_value())

    @property
    def endpoint(self) -> str:
        base = self.target.url.rstrip("/")
        if self.target.dialect == "flat":
            return f"{base}/predict"
        return base if "/models/" in base or base.endswith("/call") else f"{base}/call"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.target.token is not None:
            headers["Authorization"] = f"Bearer {self.target.token.get_secret_value()}"
        return headers

    async def _post(self, body: dict[str, Any], timeout_s: float | None = None) -> Any:
        """POST ``body`` in this target's dialect and return the answer's payload.

        ``timeout_s`` bounds the whole call (connect, send and every byte of the answer), not
        each read: a service that sends one byte every few seconds is cut off all the same.
        """
        if self.target.dialect == "modelscope":
            body = {"input": body, "parameters": {}}
        limit = self.target.timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(limit):
                async with self.http.stream(
                    "POST", self.endpoint, json=body, headers=self._headers(), timeout=limit
                ) as response:
                    raw = await self._read(response)
        except (TimeoutError, httpx.TimeoutException):
            raise CallError("unreachable", f"{self.name}: no answer within {limit:g} s") from None
        except httpx.HTTPError as exc:
            raise CallError("unreachable", f"{self.name}: {_transport_error(exc)}") from None
        status = response.status_code
        retry_after = retry_after_of(response.headers.get("retry-after"))
        try:
            payload = parse_json(raw)
        except ValueError as exc:
            kind = kind_of_status(status) if response.is_error else "invalid_answer"
            why = exc if isinstance(exc, AnswerError) else "answer is not JSON"
            raise CallError(
                kind, f"{self.name}: HTTP {status}, {why}", status, retry_after
            ) from None
        if self.target.dialect == "modelscope":
            return self._unwrap(payload, status, retry_after)
        self._record_compute(response.headers.get(INFERENCE_TIME_HEADER))
        if response.is_error:
            raise CallError(
                kind_of_status(status),
                f"{self.name}: HTTP {status}: {redact(_error_text(payload))}",
                status,
                retry_after,
            )
        return payload

    async def _read(self, response: httpx.Response) -> bytes:
        """The body, refused as soon as it passes ``MAX_ANSWER_BYTES``."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise CallError(
                "invalid_answer", f"{self.name}: answer of {declared} bytes is too large"
            )
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise CallError(
                    "invalid_answer", f"{self.name}: answer larger than {MAX_ANSWER_BYTES} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _unwrap(self, payload: Any, status: int, retry_after: float | None) -> Any:
        try:
            envelope = ModelScopeResponse.model_validate(payload)
        except ValidationError:
            kind = kind_of_status(status) if status >= 400 else "invalid_answer"
            raise CallError(
                kind, f"{self.name}: HTTP {status}, not a ModelScope envelope", status
            ) from None
        if not envelope.Success or status >= 400:
            code = status if status >= 400 else envelope.Code
            message = redact(envelope.Message)
            raise CallError(kind_of_status(code), f"{self.name}: {message}", code, retry_after)
        self._record_compute(envelope.InferenceTimeMs)
        return envelope.Data

    def _record_compute(self, reported: object) -> None:
        try:
            milliseconds = float(reported) if reported is not None else 0.0
        except (TypeError, ValueError):
            return
        if 0.0 < milliseconds < float("inf"):
            self.compute_ms += milliseconds

    async def forecast(self, bars: Bars, timeout_s: float | None = None) -> ForecastResult:
        """The service's forecast of the next closes of ``bars``, checked for sense."""
        body = {
            "symbol": bars.symbol,
            "sequence_data": bars.rows(),
            "dates": [d.isoformat() for d in bars.dates],
            "request_id": f"{bars.symbol}_{int(time.time() * 1000)}",
            "timestamp": utc_now_iso(),
            "client_version": CLIENT_VERSION,
        }
        payload = await self._post(body, timeout_s)
        if isinstance(payload, dict) and payload.get("success") is False:
            raise CallError("rejected", f"{self.name}: {redact(_error_text(payload))}")
        with self._checked():
            result = ForecastResult.model_validate(payload)
            check_forecast(result, bars.close[-1])
        return result

    async def sentiment(self, texts: list[str]) -> list[SentimentScores]:
        """One classifier answer per text, in order."""
        payload = await self._post({"texts": texts})
        if isinstance(payload, dict):
            payload = payload.get("results", payload.get("Data", payload))
        if not isinstance(payload, list) or len(payload) != len(texts):
            raise CallError("invalid_answer", f"{self.name}: expected {len(texts)} answers")
        with self._checked():
            answers = [SentimentScores.model_validate(item) for item in payload]
            for i, scores in enumerate(answers):
                check_sentiment(scores, i)
        return answers

    @contextmanager
    def _checked(self) -> Iterator[None]:
        """An answer that breaks the protocol or makes no sense is the service's fault."""
        try:
            yield
        except ValidationError as exc:
            raise CallError(
                "invalid_answer", f"{self.name}: answer breaks the protocol ({_first_error(exc)})"
            ) from None
        except AnswerError as exc:
            raise CallError("invalid_answer", f"{self.name}: {exc}") from None


def _error_text(payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("error", "Message", "message", "detail"):
            if payload.get(key):
                return str(payload[key])[:300]
    return "error"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}"


def _transport_error(exc: httpx.HTTPError) -> str:
    """``connection refused (ConnectError)``: the cause without the URL."""
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect (ConnectError: {str(exc)[:80] or 'refused'})"
    return type(exc).__name__
