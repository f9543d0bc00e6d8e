"""The N-HITS backup forecaster as a BentoML service
(``bentoml serve serving.nhits_service:NHitsService``).

numpy only: this process never imports torch, so the backup keeps answering where the primary's
stack cannot run. Its forward pass takes well under a millisecond, so each request is answered
inline on the event loop; batching would only add queueing.
"""

from __future__ import annotations

import bentoml

from premarket.protocol import ForecastInput, PriceForecast
from serving import guard
from serving.describe import forecast_description
from serving.image import SERVICE_IMAGE
from serving.routes import forecast_app
from serving.runtime import (
    FORECAST_MAX_BODY,
    Admission,
    ModelSlot,
    capacity_from_env,
    check_finite,
    forecast_values,
    model_dir,
)
from serving.samples import price_rows

guard.install()

CAPACITY = 128
"""Requests in flight before a 503 (each takes well under a millisecond of model time)."""


@bentoml.service(name="premarket_nhits", image=SERVICE_IMAGE, workers=1, traffic={"timeout": 30})
@bentoml.asgi_app(forecast_app(), path="/")
class NHitsService:
    model_used = "N-HITS (Backup)"

    def __init__(self) -> None:
        self.tag = "unresolved"
        self.admission = Admission(capacity_from_env(CAPACITY))
        self.slot = ModelSlot("nhits", self._load, _warm_up)

    def _load(self):
        self.tag, path = model_dir("nhits")
        return _load(path)

    def min_rows(self) -> int:
        return self.slot.get().min_rows

    async def forecast(self, item: ForecastInput, include_importance: bool) -> PriceForecast:
        closes = [row[3] for row in item.sequence_data]
        return self.slot.get().forecast([closes])[0]

    def describe(self) -> dict:
        model = self.slot.get() if self.slot.ready else None
        return forecast_description(
            self,
            tag=self.tag,
            device="cpu (numpy)",
            rows_used=model.input_size if model else None,
            max_body=FORECAST_MAX_BODY,
        )

    def __is_ready__(self) -> bool:
        return self.slot.ready

    def __is_alive__(self) -> bool:
        return self.slot.state != "failed"


NHitsService.add_asgi_middleware(guard.Guard, max_bytes=FORECAST_MAX_BODY)


def _load(path):
    from models.nhits.inference import NHitsForecaster

    return NHitsForecaster.load(path)


def _warm_up(model) -> None:
    """A forecast on real rows, which must be finite: broken weights are never ready."""
    rows, _ = price_rows(count=max(30, model.min_rows))
    (forecast,) = model.forecast([[row[3] for row in rows]])
    check_finite(forecast_values(forecast), "the warm-up forecast")
