"""The lexicon fallback and the default loader that falls back to it."""

from __future__ import annotations

import pytest

from models import store
from models.sentiment.default import load_default
from models.sentiment.lexicon import LexiconClassifier


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Apple beats estimates, shares jump", "positive"),
        ("$JPM upgraded to Buy at Citi", "positive"),
        ("Tesla recalls 100,000 cars; stock slides", "negative"),
        ("XYZ cut to Neutral at BTIG https://t.co/abc", "negative"),
        ("Company fails to beat estimates", "negative"),
        ("Fed minutes due at 2pm", "neutral"),
    ],
)
def test_lexicon_reads_market_wording(text, label):
    [scores] = LexiconClassifier().predict([text])
    assert scores.labels[0] == label
    assert scores.source == "lexicon"
    assert sorted(scores.labels) == ["negative", "neutral", "positive"]
    assert scores.scores == sorted(scores.scores, reverse=True)
    assert sum(scores.scores) == pytest.approx(1.0, abs=1e-5)


def test_lexicon_refuses_empty_text_and_scores_long_text():
    lexicon = LexiconClassifier()
    with pytest.raises(ValueError, match=r"texts\[0\]: is empty"):
        lexicon.predict([""])
    [scores] = lexicon.predict(["plunge " * 2000])
    assert scores.labels[0] == "negative"


def test_default_falls_back_to_the_lexicon_when_nothing_is_stored():
    clf = load_default(tag="sentiment-never-stored")
    assert isinstance(clf, LexiconClassifier)
    assert clf.predict(["Shares soar"])[0].source == "lexicon"


def test_default_falls_back_to_the_lexicon_when_the_stored_model_is_broken(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    store.save("sentiment-broken", tmp_path, metadata={})
    assert isinstance(load_default(tag="sentiment-broken"), LexiconClassifier)


def test_int8_setting_is_checked(monkeypatch):
    monkeypatch.setenv("PREMARKET_SERVICE_SENTIMENT_INT8", "maybe")
    with pytest.raises(ValueError, match="PREMARKET_SERVICE_SENTIMENT_INT8='maybe'"):
        load_default(tag="sentiment-never-stored")
