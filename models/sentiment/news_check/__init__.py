"""The project's own labelled news-style check set (``news_check.csv``; see ``GUIDE.md``).

The model is fine-tuned on finance tweets while the pre-market job reads news headlines, so the
build also scores it on these 312 formal news sentences (written and labelled for this project,
balanced over positive / negative / neutral). They are only ever evaluated on, never trained on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

CHECK_CSV = Path(__file__).with_name("news_check.csv")


def load(path: Path = CHECK_CSV) -> tuple[list[str], list[str]]:
    """Texts and labels (positive / negative / neutral) of the check set, in file order."""
    frame = pd.read_csv(path)
    return frame["text"].astype(str).tolist(), frame["label"].astype(str).tolist()


def mixed_lengths(count: int, seed: int = 0) -> list[str]:
    """``count`` formal news texts of mixed length, about 5 to 80 tokens: the work a morning
    run sends (headlines, and headlines with a summary). Each is a check-set sentence cut to
    its first 3-6 words, or one, two or three sentences joined; seeded, so every bench and test
    sends the same texts. They are for speed and batch tests, not accuracy (no labels)."""
    import random

    sentences, _ = load()
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = rng.choice((0, 1, 1, 2, 3))
        if parts == 0:
            texts.append(" ".join(rng.choice(sentences).split()[: rng.randint(3, 6)]))
        else:
            texts.append(" ".join(rng.sample(sentences, parts)))
    return texts
