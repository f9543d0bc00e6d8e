"""Names every part of the protocol shares: limits, the ticker rule, directions and scores."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Literal

Direction = Literal["UP", "DOWN", "FLAT"]
Recommendation = Literal["BUY", "SELL", "HOLD"]

MIN_ROWS = 2
"""The protocol's own minimum (the original rejected fewer than 2 rows); models may need more."""
MAX_ROWS = 1000
"""The most daily rows one request may carry (about four years); longer bodies are refused."""
MAX_TEXTS = 256
"""The most texts one sentiment request may carry."""
MAX_TEXT_CHARS = 5000
"""Longer texts are refused; texts are truncated to the model's token limit after that."""
RECOMMENDATION_THRESHOLD = 0.2
"""|signal_score| above this makes a BUY or SELL recommendation, as the original's sentiment rule."""

SYMBOL_PATTERN = r"^(?=.{1,15}$)\^?[A-Z0-9][A-Z0-9.\-]*(=[A-Z]{1,2})?$"
"""The one ticker rule (Yahoo's symbols): ``AAPL``, ``BRK-B``, ``0700.HK``, an index ``^GSPC``,
a currency ``EURUSD=X`` or a future ``GC=F``; at most 15 characters, upper case."""


def is_ticker(symbol: str) -> bool:
    """Does ``symbol`` (already upper-cased) follow ``SYMBOL_PATTERN``?"""
    return re.fullmatch(SYMBOL_PATTERN, symbol) is not None


class ProtocolError(ValueError):
    """A request that breaks the protocol; ``field`` names the offending field."""

    def __init__(self, field: str, problem: str, required_minimum: int | None = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.required_minimum = required_minimum


def direction_of(change: float) -> Direction:
    """UP, DOWN or FLAT by the sign of a price change."""
    return "UP" if change > 0 else "DOWN" if change < 0 else "FLAT"


def signal_score(direction: Direction, confidence: float) -> float:
    """The signed edge of a forecast in -1..1: ``±(2·confidence - 1)``.

    A confidence of 0.5 (a coin flip) scores 0; a certain UP scores 1. Tying the score to the
    probability that the direction is right, not to the size of the move, keeps it honest.
    """
    sign = {"UP": 1.0, "DOWN": -1.0, "FLAT": 0.0}[direction]
    return round(sign * max(0.0, 2.0 * confidence - 1.0), 6)


def recommendation_of(score: float, threshold: float = RECOMMENDATION_THRESHOLD) -> Recommendation:
    """BUY above ``threshold``, SELL below its negative, else HOLD."""
    return "BUY" if score > threshold else "SELL" if score < -threshold else "HOLD"


def _price(value: float) -> float:
    """A price to at least 4 decimals and 6 significant digits: short JSON without float32
    noise (156.89999 -> 156.9), and a sub-cent price is never rounded to 0."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(4, 6 - math.ceil(math.log10(abs(value)))))


def utc_now_iso() -> str:
    """An ISO-8601 UTC timestamp with milliseconds and a Z, as the original clients wrote."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
