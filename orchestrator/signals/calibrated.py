"""The calibrated signal: P(the session moves up), then an action from it and the expected edge.

The decision model (:mod:`premarket.decision`) is a small JSON of coefficients fitted walk-forward
on the bundled history by ``python -m models.decision.train``; a copy ships with the package
(``decision_model.json`` beside this module) and ``signal.decision_model`` points elsewhere.
It is evaluated here in numpy, never with the model stack.

The action: the direction is the more likely one; BUY/SELL WEAK needs that probability to reach
``weak_probability`` and the expected open-to-close edge (``(2p - 1)`` times the typical size of
a session's move) to reach ``min_edge_bps`` (at least the round-trip cost); STRONG needs
``strong_probability`` too. The confidence reported is the probability of the signal's
direction, so "54%" means: on such days, the session went that way 54% of the time.

That holds only for inputs like the fit's. The model records what its features were computed
from (price tier, sentiment build, news window and text form; ``DecisionModel.inputs``); when a
symbol's inputs differ in a feature that carries weight, or its news was scored by the lexicon
fallback, the probability is the base rate, ``calibrated`` is false, the action is HOLD and the
run sends one UNCALIBRATED alert (``DecisionModel.mismatch``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from orchestrator.documents.run import Decision, SentimentAnalysis
from premarket.decision import DecisionModel, RunInputs, feature_matrix
from premarket.protocol import ForecastResult
from premarket.settings import SignalSettings

BUNDLED_MODEL = Path(__file__).with_name("decision_model.json")


@lru_cache(maxsize=4)
def _load(path: Path, mtime: float) -> DecisionModel:
    return DecisionModel.load(path)


def decision_model(settings: SignalSettings) -> DecisionModel:
    """The configured decision model (re-read when its file changes)."""
    path = settings.decision_model or BUNDLED_MODEL
    try:
        return _load(path, path.stat().st_mtime)
    except (OSError, ValueError) as exc:
        raise ValueError(f"signal.decision_model: cannot load {path} ({exc})") from None


def action_of(probability_up: float, edge: float, settings: SignalSettings) -> str:
    """BUY/SELL STRONG or WEAK, or HOLD NEUTRAL, from P(up) and the expected edge (fraction)."""
    side = "BUY" if probability_up >= 0.5 else "SELL"
    confidence = max(probability_up, 1.0 - probability_up)
    if confidence < settings.weak_probability or edge * 10_000 < settings.min_edge_bps:
        return "HOLD NEUTRAL"
    return f"{side} {'STRONG' if confidence >= settings.strong_probability else 'WEAK'}"


def position_of(action: str) -> float:
    """+1 for BUY, -1 for SELL, 0 for HOLD (one unit, open to close)."""
    return {"BUY": 1.0, "SELL": -1.0}.get(action.split()[0], 0.0)


def features(
    model: DecisionModel, price: ForecastResult, sentiment: SentimentAnalysis
) -> np.ndarray:
    """The decision model's ``[1, k]`` features for one symbol (no band: no price edge)."""
    band = price.quantiles or {}
    x = feature_matrix(
        [price.predicted_price],
        [price.current_price],
        [band.get("p10", np.nan)],
        [band.get("p90", np.nan)],
        [sentiment.signal],
        [sentiment.article_count],
        model.max_articles,
    )
    return x


def drivers(model: DecisionModel, x: np.ndarray) -> list[str]:
    """The features that moved the probability: a non-zero weight on a non-zero value."""
    row = x[0]
    return [f for f, w, v in zip(model.features, model.coefficients, row, strict=True) if w and v]


def run_inputs(tier: str, sentiment: SentimentAnalysis) -> RunInputs:
    """What one symbol's features were computed from in this run."""
    return RunInputs(
        price_tier=tier,
        sentiment_source=sentiment.source,
        sentiment_model=sentiment.model,
        news_window=sentiment.news_window,
        news_text=sentiment.news_text,
    )


def base_rate(model: DecisionModel, why: str) -> Decision:
    """The decision when the inputs are not the fit's: the base rate, not traded."""
    p_up = model.base_rate
    return Decision(
        action="HOLD NEUTRAL",
        signal_score=round(2.0 * p_up - 1.0, 4),
        confidence=round(max(p_up, 1.0 - p_up), 4),
        probability_up=round(p_up, 4),
        calibrated=False,
        uncalibrated_reason=why,
        drivers=[],
        reasoning=f"base rate {p_up:.1%}, not a calibrated probability: {why} "
        f"(decision model {model.version})",
    )


def calibrated(
    price: ForecastResult, sentiment: SentimentAnalysis, settings: SignalSettings, tier: str
) -> Decision:
    """The decision in ``calibrated`` mode (``tier``: the price tier that answered)."""
    model = decision_model(settings)
    if why := model.mismatch(run_inputs(tier, sentiment)):
        return base_rate(model, why)
    x = features(model, price, sentiment)
    p_up = float(model.probability_up(x)[0])
    edge = float(model.expected_edge(p_up))
    news = "no news" if sentiment.article_count == 0 else f"{sentiment.sentiment} sentiment"
    return Decision(
        action=action_of(p_up, edge, settings),
        signal_score=round(2.0 * p_up - 1.0, 4),
        confidence=round(max(p_up, 1.0 - p_up), 4),
        probability_up=round(p_up, 4),
        calibrated=True,
        drivers=drivers(model, x),
        reasoning=(
            f"P(session up) {p_up:.1%} from a {price.direction} price prediction "
            f"({price.model_used}) and {news}; expected edge {edge * 10_000:.1f} bp "
            f"(decision model {model.version})"
        ),
    )
