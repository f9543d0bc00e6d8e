"""What a model service says about itself: ``GET /describe`` (schemas, limits, a real sample,
the model's state) and the interface the routes need from a service instance."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from premarket.plausible import FIRST_DATE, LAST_DATE, MAX_JUMP, MAX_PRICE, MAX_VOLUME, MIN_PRICE
from premarket.protocol import (
    MAX_ROWS,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    ForecastInput,
    ForecastParameters,
    ForecastResult,
    PriceForecast,
    SentimentScores,
)
from serving.runtime import Admission, ModelSlot
from serving.samples import forecast_body, headlines

PLAUSIBLE_ROWS = {
    "price_range": [MIN_PRICE, MAX_PRICE],
    "max_volume": MAX_VOLUME,
    "max_daily_ratio": MAX_JUMP,
}
"""The protocol's plausibility rules for ``sequence_data`` (400 naming the row otherwise)."""


class ForecastBackend(Protocol):
    """What the forecast routes need from a service instance."""

    model_used: str
    slot: ModelSlot[Any]
    admission: Admission

    def min_rows(self) -> int: ...

    async def forecast(self, item: ForecastInput, include_importance: bool) -> PriceForecast: ...

    def describe(self) -> dict[str, Any]: ...


class SentimentBackend(Protocol):
    slot: ModelSlot[Any]
    admission: Admission
    tokens_per_s: float | None
    abandoned_texts: int

    async def classify(
        self, texts: list[str], gone: Callable[[], Awaitable[bool]] | None = None
    ) -> list[SentimentScores]: ...

    def work_of(self, texts: list[str]) -> int: ...

    def describe(self) -> dict[str, Any]: ...


ROUTES = {
    "flat": "POST /predict",
    "flat_also": "POST /",
    "modelscope": [
        "POST /call",
        "POST /api/v1/models/{org}/{name}",
        "POST /api-inference/v1/models/{org}/{name}",
    ],
    "describe": "GET /describe",
    "health": ["GET /health", "GET /livez", "GET /readyz", "GET /metrics"],
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
            "plausible_rows": PLAUSIBLE_ROWS,
            "dates": [str(FIRST_DATE), str(LAST_DATE)],
            "queue": svc.admission.status(),
        },
        "sample": {"input": forecast_body(count=max(30, min_rows or 0)), "parameters": {}},
    }


def sentiment_description(
    svc: SentimentBackend,
    *,
    tag: str,
    version: str | None,
    device: str,
    max_body: int,
    source: str | None,
    chars_scored: int | None,
    variant: str | None = None,
) -> dict[str, Any]:
    """``GET /describe`` of the sentiment service."""
    return {
        "model": {
            "tag": tag,
            "version": version,
            "variant": variant,
            "device": device,
            "source": source,
            **svc.slot.status(),
        },
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
            "chars_scored": chars_scored,
            "max_body_bytes": max_body,
            "queue": {
                **svc.admission.status(),
                "unit": "tokens",
                "abandoned_texts": svc.abandoned_texts,
            },
            "tokens_per_s": None if svc.tokens_per_s is None else round(svc.tokens_per_s),
        },
        "sample": {"input": {"text": headlines()[0]}},
    }
