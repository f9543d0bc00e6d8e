"""Sentiment on the work a morning sends: mixed-length news sentences, one core, ours against
plain ``transformers`` float with ordinary padding (the library baseline) in the same run.

The texts are formal news sentences of about 5 to 80 tokens (``news_check.mixed_lengths``:
headlines, and headlines with a summary), not tweets. Each request size (1, 8, 32 and 256
texts) is timed as the p50 of whole requests, on one torch thread; texts per second per core is
``size / p50``. Ours is the int8 and the float variant of ``SentimentClassifier`` (texts padded
to a width that depends on their own length, so a score never depends on the batch); the
baseline pads every request to its longest text, as ``transformers`` does by default. Both run
the stored ``sentiment`` checkpoint (``make bench`` builds it first), and top labels are compared
to show the speed costs nothing.
"""

from __future__ import annotations

import torch

from bench import p50_ms
from models import store
from models.sentiment.classifier import SentimentClassifier
from models.sentiment.news_check import mixed_lengths

SIZES = (1, 8, 32, 256)
REPEATS = {1: 60, 8: 30, 32: 15, 256: 5}
THREADS = 1


def _baseline(path):
    """``transformers`` float: tokenise with padding to the longest text, one forward pass."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)

    @torch.inference_mode()
    def call(texts: list[str]) -> torch.Tensor:
        encoded = tokenizer(
            texts, padding=True, truncation=True, max_length=128, return_tensors="pt"
        )
        return model(**encoded).logits.softmax(-1)

    return call


def run() -> dict:
    torch.set_num_threads(THREADS)
    path = store.path_of("sentiment")
    texts = mixed_lengths(256, seed=29)
    int8 = SentimentClassifier.load(path, quantized=True)
    plain = SentimentClassifier.load(path, device="cpu")
    baseline = _baseline(path)
    results: dict[str, dict] = {}
    for size in SIZES:
        batch = texts[:size]
        base_ms = p50_ms(lambda b=batch: baseline(b), REPEATS[size])
        for name, ours in (("int8", int8), ("float", plain)):
            ms = p50_ms(lambda b=batch, o=ours: o.probabilities(b), REPEATS[size])
            target = "-"
            if size == 32:
                target = "ratio >= 1.0 and ours < 500" if name == "int8" else "ratio >= 1.0"
            results[f"sentiment {name}, {size} news sentences p50"] = {
                "ours": round(ms, 2),
                "baseline": round(base_ms, 2),
                "ratio": round(base_ms / ms, 3),
                "unit": "ms",
                "target": target,
                "texts_per_s_per_core": round(1000 * size / ms, 1),
                "baseline_texts_per_s_per_core": round(1000 * size / base_ms, 1),
                "threads": THREADS,
            }
    check = texts[:64]
    base_top = baseline(check).argmax(-1).tolist()
    float_top = plain.probabilities(check).argmax(-1).tolist()
    int8_top = int8.probabilities(check).argmax(-1).tolist()

    def agree(a: list[int], b: list[int]) -> float:
        return round(sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 4)

    results["sentiment float top label = transformers'"] = {
        "ours": agree(float_top, base_top),
        "unit": "fraction of 64",
        "target": "ours >= 1",
    }
    results["sentiment int8 top label = float's"] = {
        "ours": agree(int8_top, float_top),
        "unit": "fraction of 64",
        "target": "ours >= 0.9",
    }
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
