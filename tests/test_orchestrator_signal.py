"""Sentiment per symbol and the combined signal (docs/ORIGIN.md sections 3 and 5), plus light imports."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.common.clock import close_of
from orchestrator.data.news import Article
from orchestrator.signals.combine import action_of, combine
from orchestrator.signals.news_sentiment import article_score, no_news, summarize
from premarket.protocol import ForecastResult, PriceForecast, SentimentScores
from premarket.settings import SignalSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = SignalSettings(mode="original")


def scores(**probs: float) -> SentimentScores:
    ordered = sorted(probs.items(), key=lambda kv: -kv[1])
    return SentimentScores(labels=[k for k, _ in ordered], scores=[v for _, v in ordered])


def forecast(change: float, confidence: float, model: str = "TFT (Primary)") -> ForecastResult:
    return ForecastResult.build(
        PriceForecast(
            current_price=100.0,
            forecast_path=[100.0 + change],
            confidence=confidence,
            model_version="t",
        ),
        symbol="AAPL",
        model_used=model,
        inference_time_ms=1.0,
    )


def test_article_score_reads_every_label_not_element_zero() -> None:
    # Sorted highest first, as ModelScope answers: element 0 is the NEGATIVE label here...
    answer = scores(negative=0.5, positive=0.3, neutral=0.2)
    assert answer.labels[0] == "negative"
    assert article_score(answer) == pytest.approx(-0.2)
    # ...and positive there; the score follows the probabilities, not the position.
    assert article_score(scores(positive=0.7, neutral=0.2, negative=0.1)) == pytest.approx(0.6)


def test_summary_follows_the_original_rule() -> None:
    day = close_of(date(2022, 9, 20))
    pairs = [
        (Article("Up", day), scores(positive=0.9, neutral=0.05, negative=0.05)),
        (Article("Flat", day), scores(neutral=0.8, positive=0.1, negative=0.1)),
    ]
    summary = summarize(pairs, SETTINGS)
    assert summary.signal == pytest.approx(0.425)  # (0.85 + 0) / 2
    assert summary.sentiment == "BULLISH" and summary.recommendation == "BUY"
    assert summary.confidence == pytest.approx(min(0.9, 0.6 + 0.425 * 0.3))
    assert summary.article_count == 2 and summary.source == "model"
    bearish = summarize(
        [(Article("Down", day), scores(negative=0.8, positive=0.1, neutral=0.1))], SETTINGS
    )
    assert bearish.sentiment == "BEARISH" and bearish.recommendation == "SELL"
    assert no_news().model_dump(exclude_unset=True) == {
        "sentiment": "NEUTRAL",
        "signal": 0.0,
        "confidence": 0.5,
        "recommendation": "HOLD",
        "source": "no_news",
        "article_count": 0,
        "articles": [],
    }


def test_actions_at_the_original_thresholds() -> None:
    expected = {
        0.51: "BUY STRONG",
        0.5: "BUY WEAK",
        0.21: "BUY WEAK",
        0.2: "HOLD NEUTRAL",
        -0.2: "HOLD NEUTRAL",
        -0.21: "SELL WEAK",
        -0.5: "SELL WEAK",
        -0.51: "SELL STRONG",
    }
    for score, action in expected.items():
        assert action_of(score, SETTINGS) == action
    custom = SignalSettings(strong_threshold=0.3, weak_threshold=0.1)
    assert action_of(0.31, custom) == "BUY STRONG" and action_of(0.11, custom) == "BUY WEAK"


def test_combination_weights_and_reasoning() -> None:
    sentiment = summarize(
        [
            (
                Article("Up", close_of(date(2022, 9, 20))),
                scores(positive=1.0, neutral=0.0, negative=0.0),
            )
        ],
        SETTINGS,
    )
    signal = combine(forecast(2.0, 0.9), sentiment, SETTINGS, "tft")
    # price score 2 * 0.9 - 1 = 0.8; 0.6 * 0.8 + 0.4 * 1.0 = 0.88
    assert signal.signal_score == pytest.approx(0.88)
    assert signal.confidence == pytest.approx(0.6 * 0.9 + 0.4 * 0.9)
    assert signal.action == "BUY STRONG"
    assert signal.reasoning == "UP price prediction (TFT (Primary)) + BULLISH sentiment"
    quiet = combine(forecast(-1.0, 0.7, "N-HITS (Backup)"), no_news(), SETTINGS, "nhits")
    assert (
        quiet.reasoning == "DOWN price prediction (N-HITS (Backup)) + NEUTRAL sentiment (no news)"
    )


@given(
    change=st.floats(-50, 50, allow_nan=False),
    confidence=st.floats(0, 1),
    sentiment=st.floats(-1, 1),
    weight=st.floats(0.01, 1),
)
def test_confidence_is_always_a_fraction(change, confidence, sentiment, weight) -> None:
    settings = SignalSettings(mode="original", price_weight=weight, sentiment_weight=1 - weight)
    component = no_news().model_copy(
        update={
            "signal": sentiment,
            "confidence": min(0.9, 0.6 + abs(sentiment) * 0.3),
            "source": "model",
        }
    )
    signal = combine(forecast(change, confidence), component, settings, "tft")
    assert 0.0 <= signal.confidence <= 1.0
    assert -1.0 <= signal.signal_score <= 1.0
    assert signal.action == action_of(signal.signal_score, settings)


BLOCKER = """
import importlib, pkgutil, sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers', 'bentoml'):
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, Blocker())
import orchestrator
for info in pkgutil.walk_packages(orchestrator.__path__, 'orchestrator.'):
    if not info.name.endswith('__main__'):  # running a package is not importing it
        importlib.import_module(info.name)
        print(info.name)
"""


def test_every_orchestrator_module_imports_without_torch_transformers_bentoml() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = set(result.stdout.split())
    assert {
        "orchestrator.jobs.analysis",
        "orchestrator.forecast.chain",
        "orchestrator.cli.main",
        "orchestrator.storage.store",
        "orchestrator.notify.alerts",
    } <= imported
