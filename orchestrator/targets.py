"""One model endpoint (local Bento or ModelScope) in either dialect of ``premarket.protocol``.

- ``flat``: the original body at ``POST {url}/predict``, answered by a flat object.
- ``modelscope``: the envelope ``{"input": ..., "parameters": ...}`` posted to ``{url}/call``,
  or to the URL itself when it already is a ModelScope model path (``.../models/{org}/{name}``,
  as the hosted API is addressed); answered by ``{"Code", "Success", "Message", "Data"}``.

Every failure becomes a ``CallError`` whose kind decides retry and breaker accounting. The bearer
token is sent as a header and appears nowhere else.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from pydantic import ValidationError

from orchestrator.market import Bars
from orchestrator.redact import redact, register
from orchestrator.retry import CallError, kind_of_status
from premarket.protocol import (
    ForecastResult,
    ModelScopeResponse,
    SentimentScores,
    utc_now_iso,
)
from premarket.settings import Target

CLIENT_VERSION = "premarket-orchestrator/0.1"


class TargetClient:
    """Calls to one configured target; ``name`` is its role (tft, nhits, sentiment)."""

    def __init__(self, name: str, target: Target, http: httpx.AsyncClient) -> None:
        self.name = name
        self.target = target
        self.http = http
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

    async def _post(self, body: dict[str, Any]) -> Any:
        """POST ``body`` in this target's dialect and return the answer's payload."""
        if self.target.dialect == "modelscope":
            body = {"input": body, "parameters": {}}
        try:
            response = await self.http.post(
                self.endpoint, json=body, headers=self._headers(), timeout=self.target.timeout_s
            )
        except httpx.TimeoutException:
            raise CallError(
                "unreachable", f"{self.name}: no answer within {self.target.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise CallError("unreachable", f"{self.name}: {_transport_error(exc)}") from None
        try:
            payload = response.json()
        except ValueError:
            kind = kind_of_status(response.status_code) if response.is_error else "invalid_answer"
            raise CallError(
                kind,
                f"{self.name}: HTTP {response.status_code}, answer is not JSON",
                response.status_code,
            ) from None
        if self.target.dialect == "modelscope":
            return self._unwrap(payload, response.status_code)
        if response.is_error:
            raise CallError(
                kind_of_status(response.status_code),
                f"{self.name}: HTTP {response.status_code}: {redact(_error_text(payload))}",
                response.status_code,
            )
        return payload

    def _unwrap(self, payload: Any, status: int) -> Any:
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
            raise CallError(kind_of_status(code), f"{self.name}: {message}", code)
        return envelope.Data

    async def forecast(self, bars: Bars) -> ForecastResult:
        """The service's forecast of the next closes of ``bars``."""
        body = {
            "symbol": bars.symbol,
            "sequence_data": bars.rows(),
            "dates": [d.isoformat() for d in bars.dates],
            "request_id": f"{bars.symbol}_{int(time.time() * 1000)}",
            "timestamp": utc_now_iso(),
            "client_version": CLIENT_VERSION,
        }
        payload = await self._post(body)
        if isinstance(payload, dict) and payload.get("success") is False:
            raise CallError("rejected", f"{self.name}: {redact(_error_text(payload))}")
        try:
            return ForecastResult.model_validate(payload)
        except ValidationError as exc:
            raise CallError(
                "invalid_answer", f"{self.name}: answer breaks the protocol ({_first_error(exc)})"
            ) from None

    async def sentiment(self, texts: list[str]) -> list[SentimentScores]:
        """One classifier answer per text, in order."""
        payload = await self._post({"texts": texts})
        if isinstance(payload, dict):
            payload = payload.get("results", payload.get("Data", payload))
        if not isinstance(payload, list) or len(payload) != len(texts):
            raise CallError("invalid_answer", f"{self.name}: expected {len(texts)} answers")
        try:
            return [SentimentScores.model_validate(item) for item in payload]
        except ValidationError as exc:
            raise CallError(
                "invalid_answer", f"{self.name}: answer breaks the protocol ({_first_error(exc)})"
            ) from None


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
