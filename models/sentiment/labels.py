"""Normalise a checkpoint's label names to ``positive`` / ``negative`` / ``neutral``.

The original system read the wrong element of SST-2's answer, so every headline came out
NEGATIVE. Here every checkpoint label is mapped by name, once, at load time, and a label that
cannot be mapped stops the load instead of being guessed at serving time.

Mapping (case-insensitive):

- named labels: ``positive``/``pos``/``bullish`` -> positive, ``negative``/``neg``/``bearish``
  -> negative, ``neutral``/``neu`` -> neutral (SST-2's POSITIVE/NEGATIVE, FinBERT's
  Positive/Negative/Neutral, the twitter-financial-news bullish/bearish/neutral);
- unnamed ``LABEL_<i>`` labels follow the usual polarity order: 2 classes are SST-2's
  ``LABEL_0`` = negative, ``LABEL_1`` = positive; 3 classes are TweetEval's ``LABEL_0`` =
  negative, ``LABEL_1`` = neutral, ``LABEL_2`` = positive. A checkpoint with another order
  must be loaded with an explicit ``label_map``.

A 2-class checkpoint reports only the two labels it has (positive and negative): inventing a
neutral score it never computed would be dishonest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LABELS = ("positive", "negative", "neutral")

ALIASES = {
    "positive": "positive",
    "pos": "positive",
    "bullish": "positive",
    "negative": "negative",
    "neg": "negative",
    "bearish": "negative",
    "neutral": "neutral",
    "neu": "neutral",
}

INDEX_ORDER = {
    2: ("negative", "positive"),
    3: ("negative", "neutral", "positive"),
}

_INDEXED = re.compile(r"label_(\d+)")


def normalise(id2label: Mapping[int, str], label_map: Mapping[str, str] | None = None) -> list[str]:
    """The normalised label of each class index, in index order.

    ``label_map`` (checkpoint label -> positive/negative/neutral) overrides the built-in mapping.
    Raises ``ValueError`` naming the label that cannot be mapped or that repeats.
    """
    n = len(id2label)
    if sorted(id2label) != list(range(n)):
        raise ValueError(f"id2label: class indices must be 0..{n - 1}, got {sorted(id2label)}")
    overrides = {k.lower(): v for k, v in (label_map or {}).items()}
    out: list[str] = []
    for i in range(n):
        raw = str(id2label[i])
        key = raw.strip().lower()
        name = overrides.get(key) or ALIASES.get(key)
        indexed = _INDEXED.fullmatch(key)
        if name is None and indexed and n in INDEX_ORDER and int(indexed.group(1)) == i:
            name = INDEX_ORDER[n][i]
        if name not in LABELS:
            raise ValueError(
                f"label {raw!r} (class {i} of {n}) cannot be mapped to positive/negative/neutral;"
                f" pass label_map={{{raw!r}: 'positive'|'negative'|'neutral', ...}}"
            )
        out.append(name)
    repeated = {x for x in out if out.count(x) > 1}
    if repeated:
        raise ValueError(f"labels {list(id2label.values())} map twice to {sorted(repeated)}")
    return out
