"""The news sentiment classifier as a BentoML service
(``bentoml serve serving.sentiment_service:SentimentService``).

Texts from concurrent requests are classified in one forward pass: the routes hand each request's
texts to ``classify_batch`` through the service's own client (``self.to_async``), where BentoML's
adaptive batching collects them. Without a stored model the lexicon answers: every answer says
so (``"source": "lexicon"``), and so do ``/describe`` and ``/health`` (state ``degraded``, with
the reason). ``/readyz`` stays 200 then, because the service does answer every request.

Work per request is capped: at most 256 texts, each cut to what the model reads
(``limits.chars_scored`` in ``/describe``) before it is sent to the batch. The queue is counted
in tokens of work (the padded widths a forward pass computes), and sized from the speed the
service measures when its model loads: ``WORK_WINDOW_S`` seconds of work, half the 30-second
timeout, since full-length texts score slower per token than the mixed news the speed is
measured on, so admitted work finishes in time. Beyond it a request gets 503 with
``Retry-After`` at once; a request that could never fit (more tokens than the whole queue) gets
413 naming its work and the host's speed, before any work starts; never a 504 after 30 s. Five
per cent of the queue is kept for requests of at most that size (headline probes), so that big
bodies cannot starve them. ``PREMARKET_SERVICE_QUEUE_CAPACITY`` sets the capacity in tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import bentoml
from bentoml.exceptions import ServiceUnavailable
from pydantic import Field, StringConstraints

from premarket import service_env
from premarket.protocol import MAX_TEXT_CHARS, MAX_TEXTS, SentimentScores
from serving import guard
from serving.answers import batch_list
from serving.describe import sentiment_description
from serving.image import SERVICE_IMAGE
from serving.routes import sentiment_app
from serving.runtime import (
    RUNNER_CONNECTION,
    SENTIMENT_MAX_BODY,
    Admission,
    CallerGone,
    ModelSlot,
    call_batch,
    capacity_from_env,
    check_finite,
    limit_torch_threads,
    model_dir,
)
from serving.samples import headlines

guard.install()

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]
WORK_WINDOW_S = 15.0
"""Seconds of work the queue holds at the measured speed (the timeout is 30 s): a queue full
of 128-token texts measured about 1.4 times that here."""
START_CAPACITY = 2 * MAX_TEXTS * 128
"""Tokens in flight until the speed is measured: two full requests of full-length texts."""
RESERVE_SHARE = 0.05
CHUNK = 32
"""Texts of one request sent to the batch at a time: a caller that leaves costs at most the
chunk under way (a 256-text request used to run on for minutes after its caller timed out)."""


@bentoml.service(
    name="premarket_sentiment",
    image=SERVICE_IMAGE,
    workers=1,
    traffic={"timeout": 30},
    runner_connection=RUNNER_CONNECTION,
)
@bentoml.asgi_app(sentiment_app(), path="/")
class SentimentService:
    def __init__(self) -> None:
        self.tag = "unresolved"
        self.admission = Admission(START_CAPACITY, int(RESERVE_SHARE * START_CAPACITY))
        self.tokens_per_s: float | None = None
        self.abandoned_texts = 0
        """Texts never computed because their caller had left (``/describe``)."""
        self.slot = ModelSlot("sentiment", self._load, _warm_up, _degraded)

    def _load(self):
        from models.sentiment.default import load_default

        tag = service_env.read("SENTIMENT_TAG") or "sentiment"
        limit_torch_threads()
        model = load_default(tag=tag)
        self.tag = "lexicon" if model.source == "lexicon" else model_dir("sentiment")[0]
        self._size_queue(model)
        return model

    def _size_queue(self, model) -> None:
        """Size the queue to ``WORK_WINDOW_S`` seconds of this host's measured speed (or to
        ``PREMARKET_SERVICE_QUEUE_CAPACITY`` tokens); ``auto`` has measured it already."""
        from models.sentiment.default import measure_speed

        self.tokens_per_s = model.tokens_per_s or measure_speed(model)
        capacity = capacity_from_env(max(1, int(self.tokens_per_s * WORK_WINDOW_S)))
        self.admission.resize(capacity, int(RESERVE_SHARE * capacity))

    def work_of(self, texts: list[str]) -> int:
        """Tokens of work ``texts`` are (the queue's unit)."""
        return self.slot.get().work_of(texts)

    def batch_work(self, body: bytes) -> int:
        """Tokens of work a direct ``/classify_batch`` call is, for the queue (1 for a body the
        route refuses anyway: no texts, or more than ``MAX_TEXTS``)."""
        texts = [t for t in batch_list(body, "texts") if isinstance(t, str)]
        if not texts or len(texts) > MAX_TEXTS:
            return 1
        cut = self.chars_scored() or MAX_TEXT_CHARS
        return max(1, self.work_of([t[:cut] for t in texts]))

    def chars_scored(self) -> int | None:
        """How much of each text the model reads, in characters (None while loading): the
        classifier's own cut, made here before a big body is passed on to the batch."""
        if not self.slot.ready:
            return None
        model = self.slot.get()
        if model.source != "model":
            return MAX_TEXT_CHARS  # the word list reads every character
        from models.sentiment.classifier import MAX_CHARS_PER_TOKEN

        return min(MAX_TEXT_CHARS, MAX_CHARS_PER_TOKEN * model.max_length)

    async def classify(
        self, texts: list[str], gone: Callable[[], Awaitable[bool]] | None = None
    ) -> list[SentimentScores]:
        """Scores of ``texts``, sent to the batch ``CHUNK`` texts at a time. Before each chunk
        after the first, ``gone()`` says whether the caller has left (a client that timed out):
        then the rest is never computed (:class:`CallerGone`), counted in ``abandoned_texts``.
        A score does not depend on its batch, so chunking changes no answer."""
        cut = self.chars_scored() or MAX_TEXT_CHARS
        scores: list[SentimentScores] = []
        for start in range(0, len(texts), CHUNK):
            if start and gone is not None and await gone():
                self.abandoned_texts += len(texts) - start
                raise CallerGone(len(texts) - start)
            chunk = [t[:cut] for t in texts[start : start + CHUNK]]
            answers = await call_batch(self.to_async.classify_batch, texts=chunk)
            scores += [SentimentScores.model_validate(a) for a in answers]
        return scores

    @bentoml.api(batchable=True, max_batch_size=128, max_latency_ms=10_000)
    def classify_batch(
        self, texts: Annotated[list[Text], Field(min_length=1, max_length=MAX_TEXTS)]
    ) -> list[SentimentScores]:
        """Classify a batch of texts in one pass (also callable directly: ``{"texts": [...]}``,
        1 to 256 texts)."""
        if not self.slot.ready:
            raise ServiceUnavailable(f"the sentiment model is {self.slot.state}")
        return self.slot.get().predict(texts)

    def describe(self) -> dict:
        model = self.slot.get() if self.slot.ready else None
        return sentiment_description(
            self,
            tag=self.tag,
            version=getattr(model, "version", None),
            variant=getattr(model, "variant", None),
            device=str(getattr(model, "device", "cpu")),
            max_body=SENTIMENT_MAX_BODY,
            source=getattr(model, "source", None),
            chars_scored=self.chars_scored(),
        )

    def __is_ready__(self) -> bool:
        return self.slot.ready

    def __is_alive__(self) -> bool:
        return self.slot.state != "failed"


SentimentService.add_asgi_middleware(
    guard.Guard, max_bytes=SENTIMENT_MAX_BODY, batch_path="/classify_batch"
)


def _warm_up(model) -> None:
    """Real headlines, whose scores must be finite: broken weights are never ready."""
    for scores in model.predict(headlines()):
        check_finite(scores.scores, "the warm-up scores")


def _degraded(model) -> str | None:
    """Why the word list answers instead of a model (None when the model does)."""
    if model.source != "lexicon":
        return None
    why = getattr(model, "reason", None) or "no sentiment model could be loaded"
    return f"the lexicon fallback answers: {why}"
