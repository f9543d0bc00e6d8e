"""Price forecast + news sentiment -> one action.

``signal.mode`` picks the rule: ``calibrated`` (default, :mod:`orchestrator.signals.calibrated`)
or ``original``, ``docs/ORIGIN.md`` section 5's rule kept for compatibility, described below. The
original rule's confidence is a weighted mean of two confidences, not a probability of anything
measured (a coin-flip forecast plus any news scores at least 0.55).

The combined score and confidence are the weighted means of the two components (0.6 price,
0.4 sentiment by default; weights are normalised so both stay in range whatever is configured).
The price signal is the forecast's ``signal_score``: ``±(2·confidence - 1)``, its edge over a
coin flip in the predicted direction.
"""

from __future__ import annotations

from orchestrator.documents.run import Decision, SentimentAnalysis
from orchestrator.signals.calibrated import calibrated
from premarket.protocol import ForecastResult
from premarket.settings import SignalSettings


def action_of(score: float, settings: SignalSettings) -> str:
    if score > settings.strong_threshold:
        return "BUY STRONG"
    if score > settings.weak_threshold:
        return "BUY WEAK"
    if score < -settings.strong_threshold:
        return "SELL STRONG"
    if score < -settings.weak_threshold:
        return "SELL WEAK"
    return "HOLD NEUTRAL"


def combine(
    price: ForecastResult, sentiment: SentimentAnalysis, settings: SignalSettings, tier: str
) -> Decision:
    """Action, score, confidence (a fraction in 0..1) and a one-line reasoning (``tier``: the
    price tier that answered)."""
    if settings.mode == "calibrated":
        return calibrated(price, sentiment, settings, tier)
    total = settings.price_weight + settings.sentiment_weight
    wp, ws = settings.price_weight / total, settings.sentiment_weight / total
    score = wp * price.signal_score + ws * sentiment.signal
    confidence = wp * price.confidence + ws * sentiment.confidence
    note = {"no_news": " (no news)", "unavailable": " (sentiment service unavailable)"}
    return Decision(
        action=action_of(score, settings),
        signal_score=round(score, 4),
        confidence=round(min(1.0, max(0.0, confidence)), 4),
        reasoning=(
            f"{price.direction} price prediction ({price.model_used}) + "
            f"{sentiment.sentiment} sentiment{note.get(sentiment.source, '')}"
        ),
    )
