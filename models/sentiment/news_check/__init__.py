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
