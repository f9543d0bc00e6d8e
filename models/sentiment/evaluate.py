"""Scoring a labelled set the way the service scores it (``train.py`` steps 4 and 5)."""

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


def evaluate(scorer, texts: list[str], labels: list[str]) -> dict:
    """Metrics of one labelled set as scored by ``scorer`` (a ``SentimentClassifier``)."""
    start = time.perf_counter()
    predicted = [LABELS[i] for i in scorer.probabilities(texts).argmax(-1)]
    result = metrics(labels, predicted)
    result["eval_seconds"] = round(time.perf_counter() - start, 2)
    return result


def in_memory(model, tokenizer):
    """A float model still in memory, scored by the service's batching (the self-training teacher)."""
    from models.sentiment.classifier import SentimentClassifier

    return SentimentClassifier(
        model, tokenizer, labels=list(LABELS), version="eval", max_length=tokenizer.model_max_length
    )
