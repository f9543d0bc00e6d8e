"""The TFT primary forecaster as a BentoML service (``bentoml serve serving.tft_service:TFTService``).

Concurrent requests share one forward pass: the routes hand each request to ``forecast_batch``
through the service's own client (``self.to_async``), which is where BentoML's adaptive batching
collects them. Each request is validated on its own before it joins a batch, and an item the
model still cannot take fails alone (a 500: past validation it is a model fault); its
batch-mates are answered.
"""

from __future__ import annotations

import logging
from typing import Annotated

import bentoml
from pydantic import BaseModel, Field

from premarket.protocol import ForecastInput, PriceForecast
from serving import guard
from serving.answers import batch_list
from serving.describe import forecast_description
from serving.dialects import ServiceError
from serving.image import SERVICE_IMAGE
from serving.routes import forecast_app
from serving.runtime import (
    FORECAST_MAX_BODY,
    RUNNER_CONNECTION,
    Admission,
    ModelSlot,
    call_batch,
    capacity_from_env,
    check_finite,
    forecast_values,
    limit_torch_threads,
    model_dir,
)
from serving.samples import price_rows

guard.install()
logger = logging.getLogger("premarket.serving")

MAX_BATCH = 64
CAPACITY = 64
"""Requests in flight before a 503: one full batch waiting while another runs."""
MODEL_FAULT = "the forward pass failed on these rows (a model fault; see the service log)"


class BatchItem(ForecastInput):
    """One request inside a batch."""

    include_importance: bool = False


class BatchOutcome(BaseModel):
    """One answer of a batch: a forecast, or why this item alone could not have one (``status``
    503: the model is not ready; 500: the forward pass failed on input that passed validation,
    a fault of the model, not of the caller)."""

    forecast: PriceForecast | None = None
    error: str | None = None
    status: int = 200
    field: str = "sequence_data"


@bentoml.service(
    name="premarket_tft",
    image=SERVICE_IMAGE,
    workers=1,
    traffic={"timeout": 30},
    runner_connection=RUNNER_CONNECTION,
)
@bentoml.asgi_app(forecast_app(), path="/")
class TFTService:
    model_used = "TFT (Primary)"

    def __init__(self) -> None:
        self.tag = "unresolved"
        self.admission = Admission(capacity_from_env(CAPACITY))
        self.slot = ModelSlot("tft", self._load, _warm_up)

    def _load(self):
        self.tag, path = model_dir("tft")
        return _load(path)

    def min_rows(self) -> int:
        return self.slot.get().min_rows

    async def forecast(self, item: ForecastInput, include_importance: bool) -> PriceForecast:
        batch_item = BatchItem(**item.model_dump(), include_importance=include_importance)
        (outcome,) = await call_batch(self.to_async.forecast_batch, items=[batch_item])
        outcome = BatchOutcome.model_validate(outcome)
        if outcome.forecast is None:
            raise ServiceError(outcome.status, outcome.field, outcome.error or "no forecast")
        return outcome.forecast

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=10_000)
    def forecast_batch(
        self, items: Annotated[list[BatchItem], Field(min_length=1, max_length=MAX_BATCH)]
    ) -> list[BatchOutcome]:
        """Forecast a batch in one forward pass (also callable directly: ``{"items": [...]}``,
        1 to 64 items).

        An item the model cannot take gets its own error instead of failing the whole batch.
        """
        if not self.slot.ready:
            state = f"is {self.slot.state}"
            return [BatchOutcome(status=503, field="model", error=state) for _ in items]
        model = self.slot.get()
        outcomes = [
            BatchOutcome(status=400, error=f"the TFT needs at least {model.min_rows} rows")
            if len(it.sequence_data) < model.min_rows
            else BatchOutcome()
            for it in items
        ]
        for importance in (False, True):
            group = [
                i
                for i, it in enumerate(items)
                if it.include_importance is importance and outcomes[i].error is None
            ]
            for i, outcome in zip(
                group, _forecast_group(model, items, group, importance), strict=True
            ):
                outcomes[i] = outcome
        return outcomes

    def batch_work(self, body: bytes) -> int:
        """Requests a direct ``/forecast_batch`` call is, for the queue (one per item; a batch
        over ``MAX_BATCH`` is the route's 400, not the queue's 413)."""
        return max(1, min(len(batch_list(body, "items")), MAX_BATCH))

    def describe(self) -> dict:
        model = self.slot.get() if self.slot.ready else None
        return forecast_description(
            self,
            tag=self.tag,
            device=str(model.device) if model else "unknown",
            rows_used=model.max_rows if model else None,
            max_body=FORECAST_MAX_BODY,
        )

    def __is_ready__(self) -> bool:
        return self.slot.ready

    def __is_alive__(self) -> bool:
        return self.slot.state != "failed"


TFTService.add_asgi_middleware(
    guard.Guard, max_bytes=FORECAST_MAX_BODY, batch_path="/forecast_batch"
)


def _forecast_group(
    model, items: list[BatchItem], group: list[int], importance: bool
) -> list[BatchOutcome]:
    """Forecast ``items[group]`` in one forward pass; if that fails, item by item, so that the
    one the model cannot take fails alone and the others are answered. Input was validated
    before (4xx); a forward pass that still fails is the model's fault, answered 500, so a
    client's circuit breaker counts it and a TFT that fails every input is skipped and alerted."""
    if not group:
        return []
    requests = [(items[i].symbol, items[i].sequence_data, items[i].dates) for i in group]
    try:
        return [
            BatchOutcome(forecast=f)
            for f in model.forecast(requests, include_importance=importance)
        ]
    except Exception:
        if len(group) == 1:
            logger.exception("tft: one item could not be forecast")
            return [BatchOutcome(status=500, error=MODEL_FAULT, field="model")]
        logger.warning("tft: a batch of %d failed; forecasting its items one by one", len(group))
    return [_forecast_group(model, items, [i], importance)[0] for i in group]


def _load(path):
    from models.tft.predictor import TFTPredictor

    limit_torch_threads()
    return TFTPredictor.load(path)


def _warm_up(model) -> None:
    """A forecast on real rows, which must be finite: broken weights are never ready."""
    rows, _ = price_rows(count=max(30, model.min_rows))
    (forecast,) = model.forecast([("AAPL", rows, None)], include_importance=True)
    check_finite(forecast_values(forecast), "the warm-up forecast")
