"""Scoring a model on a labelled set exactly as the service would (``train.py`` step 5)."""

from __future__ import annotations

import time

import numpy as np

from models.sentiment.labels import LABELS


def metrics(truth: list[str], predicted: list[str]) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows true, columns predicted, LABELS order)."""
    index = {label: i for i, label in enumerate(LABELS)}
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        confusion[index[t], index[p]] += 1
    tp = np.diag(confusion).astype(float)
    precision = np.divide(tp, confusion.sum(0), out=np.zeros_like(tp), where=confusion.sum(0) > 0)
    recall = np.divide(tp, confusion.sum(1), out=np.zeros_like(tp), where=confusion.sum(1) > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "accuracy": round(float(tp.sum() / confusion.sum()), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "f1": {label: round(float(x), 4) for label, x in zip(LABELS, f1, strict=True)},
        "confusion": confusion.tolist(),
        "confusion_order": list(LABELS),
        "examples": int(confusion.sum()),
    }


def evaluate(model, tokenizer, texts: list[str], labels: list[str], *, quantized: bool) -> dict:
    """Metrics of one labelled set through the same inference path the service uses."""
    from models.sentiment.quantize import quantize_int8

    start = time.perf_counter()
    net = quantize_int8(model) if quantized else model
    predicted = [LABELS[i] for i in classifier(net, tokenizer).probabilities(texts).argmax(-1)]
    result = metrics(labels, predicted)
    result["eval_seconds"] = round(time.perf_counter() - start, 2)
    return result


def classifier(model, tokenizer):
    from models.sentiment.classifier import SentimentClassifier

    return SentimentClassifier(
        model, tokenizer, labels=list(LABELS), version="eval", max_length=tokenizer.model_max_length
    )
