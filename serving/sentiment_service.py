"""The news sentiment classifier as a BentoML service
(``bentoml serve serving.sentiment_service:SentimentService``).

Texts from concurrent requests are classified in one forward pass: the routes hand each request's
texts to ``classify_batch`` through the service's own client (``self.to_async``), where BentoML's
adaptive batching collects them. Without a stored model the lexicon answers, and every answer
says so (``"source": "lexicon"``).
"""

from __future__ import annotations

import os
from typing import Annotated

import bentoml
from bentoml.exceptions import ServiceUnavailable
from pydantic import StringConstraints

from premarket.protocol import MAX_TEXT_CHARS, SentimentScores
from serving.image import GPU_IMAGE
from serving.routes import sentiment_app, sentiment_description
from serving.runtime import (
    SENTIMENT_MAX_BODY,
    BodyLimit,
    ModelSlot,
    call_batch,
    limit_torch_threads,
    model_dir,
)
from serving.samples import headlines

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]


@bentoml.service(name="premarket_sentiment", image=GPU_IMAGE, workers=1, traffic={"timeout": 30})
@bentoml.asgi_app(sentiment_app(), path="/")
class SentimentService:
    def __init__(self) -> None:
        self.tag = "unresolved"
        self.slot = ModelSlot("sentiment", self._load, lambda model: model.predict(headlines()))

    def _load(self):
        from models.sentiment.default import load_default

        tag = os.environ.get("PREMARKET_SENTIMENT_TAG") or "sentiment"
        limit_torch_threads()
        model = load_default(tag=tag)
        self.tag = "lexicon" if model.source == "lexicon" else model_dir("sentiment")[0]
        return model

    async def classify(self, texts: list[str]) -> list[SentimentScores]:
        answers = await call_batch(self.to_async.classify_batch, texts=texts)
        return [SentimentScores.model_validate(a) for a in answers]

    @bentoml.api(batchable=True, max_batch_size=128, max_latency_ms=10_000)
    def classify_batch(self, texts: list[Text]) -> list[SentimentScores]:
        """Classify a batch of texts in one pass (also callable directly: ``{"texts": [...]}``)."""
        if not self.slot.ready:
            raise ServiceUnavailable(f"the sentiment model is {self.slot.state}")
        return self.slot.get().predict(texts)

    def describe(self) -> dict:
        model = self.slot.get() if self.slot.ready else None
        return sentiment_description(
            self,
            tag=self.tag,
            version=getattr(model, "version", None),
            device=str(getattr(model, "device", "cpu")),
            max_body=SENTIMENT_MAX_BODY,
        )

    def __is_ready__(self) -> bool:
        return self.slot.ready

    def __is_alive__(self) -> bool:
        return self.slot.state != "failed"


SentimentService.add_asgi_middleware(BodyLimit, max_bytes=SENTIMENT_MAX_BODY)
