"""Pick the classifier a service should use: the stored model, else the lexicon.

Which variant of the stored model is served is a setting, ``PREMARKET_SERVICE_SENTIMENT_INT8``:

- ``auto`` (default): the int8 CPU variant when the build kept it (its valid accuracy was within
  1 point of the float model's, recorded as ``int8_kept`` in the model's metadata) and no GPU is
  present; otherwise the float model;
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
            quantized = kept and device in (None, "cpu") and not torch.cuda.is_available()
        return SentimentClassifier.load(path, quantized=quantized, device=device, version=path.name)
    except Exception as exc:  # any failure to load degrades to the lexicon, never to an outage
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("sentiment model %r not loaded (%s); using the lexicon fallback", tag, reason)
        return LexiconClassifier(reason=f"sentiment model {tag!r} not loaded ({reason})")
