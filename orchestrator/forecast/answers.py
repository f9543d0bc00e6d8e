"""What a model service's answer must satisfy before the run believes it.

The protocol's schema says which fields an answer has; it does not say that they make sense. A
hostile or broken service answered NaN prices (which lost the whole run at the store), a price of
-1000 (a strong SELL), "UP" with a lower price and sentiment scores of 1e308 (a strong BUY). Each
check here names the first problem it finds; the chain treats any problem as an invalid answer
and asks the next tier.
"""

from __future__ import annotations

import json
import math
from typing import Any

from premarket.plausible import MAX_JUMP
from premarket.protocol import ForecastResult, SentimentScores, signal_score

MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""The largest answer read (a forecast with variable importances is tens of KB); the body is
read in chunks and refused as soon as it passes this, so a 300 MB answer costs 4 MB."""
FLAT_TOLERANCE = 1e-4
"""A predicted move smaller than this fraction of the price may carry any direction (rounding)."""
SCORE_TOLERANCE = 1e-3


class AnswerError(ValueError):
    """An answer that parses but cannot be believed; the message names the field."""


def parse_json(raw: bytes) -> Any:
    """JSON without NaN or Infinity, which Python's parser accepts and no price may be."""

    def refuse(constant: str) -> Any:
        raise AnswerError(f"answer holds {constant}, not a number")

    return json.loads(raw, parse_constant=refuse)


def _price(name: str, value: float, reference: float | None = None) -> None:
    if not math.isfinite(value) or value <= 0:
        raise AnswerError(f"{name} is {value!r}: must be a positive finite price")
    if reference is not None and not reference / MAX_JUMP <= value <= reference * MAX_JUMP:
        raise AnswerError(
            f"{name} is {value:g}: more than {MAX_JUMP:g}-fold away from the last close "
            f"{reference:g}"
        )


def check_forecast(result: ForecastResult, last_close: float) -> None:
    """Raise ``AnswerError`` unless ``result`` is a plausible forecast from ``last_close``."""
    _price("current_price", result.current_price, last_close)
    _price("predicted_price", result.predicted_price, last_close)
    for i, value in enumerate(result.forecast_path):
        _price(f"forecast_path[{i}]", value, last_close)
    if not result.forecast_path:
        raise AnswerError("forecast_path is empty")
    for name, value in (result.quantiles or {}).items():
        _price(f"quantiles.{name}", value, last_close)
    ordered = sorted((result.quantiles or {}).items(), key=lambda kv: _level(kv[0]))
    for (low_name, low), (high_name, high) in zip(ordered, ordered[1:], strict=False):
        if low > high:
            raise AnswerError(f"quantiles: {low_name} {low:g} is above {high_name} {high:g}")
    if not 0.0 <= result.confidence <= 1.0 or not math.isfinite(result.confidence):
        raise AnswerError(f"confidence is {result.confidence!r}: must be a probability in 0..1")
    change = result.predicted_price - result.current_price
    if abs(change) > FLAT_TOLERANCE * result.current_price:
        expected = "UP" if change > 0 else "DOWN"
        if result.direction != expected:
            raise AnswerError(
                f"direction is {result.direction} but predicted_price {result.predicted_price:g} "
                f"is {'above' if change > 0 else 'below'} current_price {result.current_price:g}"
            )
    expected_score = signal_score(result.direction, result.confidence)
    if not abs(result.signal_score - expected_score) <= SCORE_TOLERANCE:
        raise AnswerError(
            f"signal_score is {result.signal_score!r}, not {expected_score:g} "
            f"(from direction {result.direction} and confidence {result.confidence:g})"
        )


def _level(name: str) -> float:
    """``p10`` -> 10; an unknown name raises, so a quantile we cannot order is refused."""
    try:
        return float(name.lstrip("pq"))
    except ValueError:
        raise AnswerError(f"quantiles: {name!r} is not a quantile name like p10") from None


def check_sentiment(scores: SentimentScores, index: int) -> None:
    """Raise ``AnswerError`` unless one text's scores are probabilities, one per label."""
    if not scores.labels or len(scores.labels) != len(scores.scores):
        raise AnswerError(f"answer {index}: needs one score per label")
    if len(set(scores.labels)) != len(scores.labels):
        raise AnswerError(f"answer {index}: a label appears twice")
    for label, value in zip(scores.labels, scores.scores, strict=True):
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise AnswerError(f"answer {index}: {label} score {value!r} is not a probability")
    if sum(scores.scores) > 1.0 + SCORE_TOLERANCE:
        raise AnswerError(f"answer {index}: scores add up to {sum(scores.scores):g}, above 1")
