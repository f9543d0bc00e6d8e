"""Sentiment: a batch of 64 real headlines on 2 CPU threads, ours against ``transformers.pipeline``.

Both sides run the same checkpoint: the stored ``sentiment`` model when the BentoML store has it
(``make bench`` trains it first), else the converted, untrained DistilBERT of the same size
(same architecture, same cost; the ``weights`` key says which). Ours is measured as float and as
the int8 dynamic-quantised CPU variant; the baseline is the plain float pipeline with
``top_k=None`` (every label's score, as we answer). The headlines are the first 64 of the
bundled CNBC/Reuters/Guardian set, and top labels are compared to show the speed costs nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import torch

from bench import p50_ms
from models import store
from models.sentiment.classifier import SentimentClassifier
from premarket.data import HEADLINES_CSV

BATCH = 64
REPEATS = 10
THREADS = 2
TARGET = "ours < 300"


def _checkpoint(tmp: Path) -> tuple[Path, str]:
    """The folder both sides load, and which weights it holds."""
    if store.exists("sentiment"):
        path = store.path_of("sentiment")
        return path, f"stored sentiment:{path.name}"
    from transformers import DistilBertForSequenceClassification

    from models.sentiment.convert import convert
    from models.sentiment.labels import LABELS

    encoder, tokenizer = convert()
    encoder.config.id2label = dict(enumerate(LABELS))
    encoder.config.label2id = {label: i for i, label in enumerate(LABELS)}
    model = DistilBertForSequenceClassification(encoder.config)
    model.distilbert.load_state_dict(encoder.state_dict())
    model.save_pretrained(tmp)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(tmp)
    return tmp, "converted all-MiniLM-L6-v2, untrained head (no stored model)"


def run() -> dict:
    from transformers import pipeline

    torch.set_num_threads(THREADS)
    headlines = pd.read_csv(HEADLINES_CSV, nrows=BATCH)["headline"].astype(str).tolist()
    with tempfile.TemporaryDirectory() as tmp:
        path, weights = _checkpoint(Path(tmp))
        ours = SentimentClassifier.load(path, device="cpu")
        int8 = SentimentClassifier.load(path, quantized=True)
        baseline = pipeline(
            "text-classification",
            model=str(path),
            top_k=None,
            device="cpu",
            batch_size=BATCH,
            truncation=True,
        )
        base_ms = p50_ms(lambda: baseline(headlines), REPEATS)
        float_ms = p50_ms(lambda: ours.predict(headlines), REPEATS)
        int8_ms = p50_ms(lambda: int8.predict(headlines), REPEATS)
        base_top = [answer[0]["label"] for answer in baseline(headlines)]
        float_top = [s.labels[0] for s in ours.predict(headlines)]
        int8_top = [s.labels[0] for s in int8.predict(headlines)]

    def agree(a: list[str], b: list[str]) -> float:
        return round(sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 4)

    common = {"unit": "ms", "target": TARGET, "batch": BATCH, "threads": THREADS}
    return {
        "sentiment float, batch of 64 p50": {
            "ours": round(float_ms, 2),
            "baseline": round(base_ms, 2),
            "weights": weights,
            **common,
        },
        "sentiment int8, batch of 64 p50": {
            "ours": round(int8_ms, 2),
            "baseline": round(base_ms, 2),
            "weights": weights,
            **common,
        },
        "sentiment float top label = pipeline's": {
            "ours": agree(float_top, base_top),
            "unit": "fraction of 64",
            "target": "ours >= 1",
        },
        "sentiment int8 top label = float's": {
            "ours": agree(int8_top, float_top),
            "unit": "fraction of 64",
            "target": "ours >= 0.9",
        },
    }
