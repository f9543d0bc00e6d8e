"""Pick the classifier a service should use: the stored model, else the lexicon.

Which variant of the stored model is served is a setting, ``PREMARKET_SERVICE_SENTIMENT_INT8``:

- ``auto`` (default): on a GPU, the float model. On a CPU, when the build kept the int8 variant
  (its valid accuracy was within 1 point of the float model's, ``int8_kept`` in the model's
  metadata), whichever of the two is faster *on this host*: both are timed at start-up on 32
  mixed-length news sentences (best of 3). The int8 products (``torch._int_mm``) are fast only
  with int8 matrix instructions (VNNI, AMX): on such a Xeon int8 was 1.3-1.7x faster, while on
  an AVX2-only EPYC it was 25-30x slower than float. The choice and both timings are logged and
  shown by ``/describe`` (``variant``);
- ``true`` / ``false``: always / never the int8 variant.

When no model is stored or it cannot be loaded, the lexicon answers, and says so in every output
(``source="lexicon"``), so a degraded answer is never mistaken for the model's.
"""

from __future__ import annotations

import logging

from models.sentiment.lexicon import LexiconClassifier
from premarket import service_env

INT8_ENV = service_env.name("SENTIMENT_INT8")
TAG = "sentiment"

log = logging.getLogger(__name__)


def int8_setting() -> bool | None:
    """The ``PREMARKET_SERVICE_SENTIMENT_INT8`` setting: True, False or None for ``auto``."""
    raw = service_env.read("SENTIMENT_INT8", "auto").strip().lower()
    choices = {"auto": None, "true": True, "1": True, "yes": True}
    choices |= {"false": False, "0": False, "no": False}
    if raw not in choices:
        raise ValueError(f"{INT8_ENV}={raw!r}: must be auto, true or false")
    return choices[raw]


def load_default(quantized: bool | None = None, *, tag: str = TAG, device: str | None = None):
    """The stored sentiment model (``SentimentClassifier``) or, failing that, the lexicon.

    ``quantized=None`` follows the ``PREMARKET_SERVICE_SENTIMENT_INT8`` setting (see the module doc).
    """
    if quantized is None:
        quantized = int8_setting()
    try:
        import torch

        from models import store
        from models.sentiment.classifier import SentimentClassifier

        path = store.path_of(tag)
        if quantized is None:
            kept = bool(store.metadata_of(tag).get("int8_kept", False))
            on_cpu = device in (None, "cpu") and not torch.cuda.is_available()
            if kept and on_cpu:
                return faster_variant(path)
            quantized = False
        return SentimentClassifier.load(path, quantized=quantized, device=device, version=path.name)
    except Exception as exc:  # any failure to load degrades to the lexicon, never to an outage
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("sentiment model %r not loaded (%s); using the lexicon fallback", tag, reason)
        return LexiconClassifier(reason=f"sentiment model {tag!r} not loaded ({reason})")


def measure_speed(model) -> float:
    """Tokens of work a second ``model`` scores here: 32 mixed-length news sentences, best of 3
    after a warm-up. Picks the variant (``faster_variant``) and sizes the service's queue; the
    chosen variant keeps its figure (``tokens_per_s``), so it is measured once."""
    import time

    from models.sentiment.news_check import mixed_lengths

    texts = mixed_lengths(32, seed=0)
    model.predict(texts[:4])  # first-call costs are not the steady state
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        model.predict(texts)
        best = min(best, time.perf_counter() - started)
    model.tokens_per_s = model.work_of(texts) / max(best, 1e-9)
    return model.tokens_per_s


def faster_variant(path):
    """The int8 or the float CPU classifier of the checkpoint at ``path``, whichever scores
    mixed-length news faster here (``measure_speed``); ``variant`` says why."""
    from models.sentiment.classifier import SentimentClassifier

    speeds = {}
    for name, quantized in (("int8", True), ("float", False)):
        clf = SentimentClassifier.load(path, quantized=quantized, device="cpu", version=path.name)
        speeds[name] = (measure_speed(clf), clf)
    name = max(speeds, key=lambda k: speeds[k][0])
    chosen = speeds[name][1]
    chosen.variant = (
        f"{name}: int8 {speeds['int8'][0]:,.0f} tokens/s, float {speeds['float'][0]:,.0f} "
        "tokens/s on 32 news sentences on this host"
    )
    log.info("sentiment variant %s", chosen.variant)
    return chosen
