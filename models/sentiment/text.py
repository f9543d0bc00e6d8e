"""Text clean-up shared by training, the model and the lexicon, so they see text the same way.

The fine-tuning tweets end in ``https://t.co/...`` links that carry no sentiment but cost about a
third of the tokens; they are dropped on both sides, and runs of whitespace are collapsed.
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """``text`` without links and with single spaces; the original when nothing else is left."""
    cleaned = _SPACE.sub(" ", _URL.sub(" ", text)).strip()
    return cleaned or text.strip()


def check_texts(texts: list[str]) -> None:
    """Refuse what no classifier can score, naming the offending item."""
    if not isinstance(texts, list):
        raise TypeError("texts: must be a list of strings")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}]: must be a string, not {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"texts[{i}]: is empty")
