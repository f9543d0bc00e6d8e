"""The TFT primary forecaster as a BentoML service (``bentoml serve serving.tft_service:TFTService``).

Concurrent requests share one forward pass: the routes hand each request to ``forecast_batch``
through the service's own client (``self.to_async``), which is where BentoML's adaptive batching
collects them.
"""

from __future__ import annotations

import bentoml
from pydantic import BaseModel

from premarket.protocol import ForecastInput, PriceForecast
from serving.image import GPU_IMAGE
from serving.routes import forecast_app, forecast_description
from serving.runtime import (
    FORECAST_MAX_BODY,
    BodyLimit,
    ModelSlot,
    call_batch,
    limit_torch_threads,
    model_dir,
)
from serving.samples import price_rows


class BatchItem(ForecastInput):
    """One request inside a batch."""

    include_importance: bool = False


class BatchOutcome(BaseModel):
    """One answer of a batch: a forecast, or why this item alone could not have one."""

    forecast: PriceForecast | None = None
    error: str | None = None


@bentoml.service(name="premarket_tft", image=GPU_IMAGE, workers=1, traffic={"timeout": 30})
@bentoml.asgi_app(forecast_app(), path="/")
class TFTService:
    model_used = "TFT (Primary)"

    def __init__(self) -> None:
        self.tag = "unresolved"
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
            raise RuntimeError(outcome.error)
        return outcome.forecast

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=10_000)
    def forecast_batch(self, items: list[BatchItem]) -> list[BatchOutcome]:
        """Forecast a batch in one forward pass (also callable directly: ``{"items": [...]}``).

        An item the model cannot take gets its own error instead of failing the whole batch.
        """
        if not self.slot.ready:
            return [BatchOutcome(error=f"model: {self.slot.state}") for _ in items]
        model = self.slot.get()
        outcomes = [
            BatchOutcome(error=f"sequence_data: the TFT needs at least {model.min_rows} rows")
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
            if group:
                requests = [
                    (items[i].symbol, items[i].sequence_data, items[i].dates) for i in group
                ]
                forecasts = model.forecast(requests, include_importance=importance)
                for i, forecast in zip(group, forecasts, strict=True):
                    outcomes[i].forecast = forecast
        return outcomes

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


TFTService.add_asgi_middleware(BodyLimit, max_bytes=FORECAST_MAX_BODY)


def _load(path):
    from models.tft.predictor import TFTPredictor

    limit_torch_threads()
    return TFTPredictor.load(path)


def _warm_up(model) -> None:
    rows, _ = price_rows(count=max(30, model.min_rows))
    model.forecast([("AAPL", rows, None)], include_importance=True)
