"""Loading local checkpoints, label normalisation, batching, truncation and bad input."""

from __future__ import annotations

import pytest
import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification

from models.sentiment.classifier import SentimentClassifier, SentimentModelError
from models.sentiment.convert import load_tokenizer
from models.sentiment.labels import normalise
from models.sentiment.quantize import RowInt8Linear

HEADLINES = [
    "Apple beats estimates, shares jump",
    "Tesla recalls 100,000 cars over brake fault https://t.co/xyz",
    "Fed minutes due at 2pm",
    "$JPM cut to Neutral at BTIG",
    "Oil prices steady ahead of OPEC meeting",
    "Microsoft raises dividend by 10%",
    "Boeing shares slide after new 737 MAX delay",
    "Markets wrap: stocks mixed",
    "Nvidia soars to record high on AI demand",
    "Retailer files for bankruptcy",
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def _checkpoint(path, tokenizer, id2label: dict[int, str], seed: int = 0):
    """A tiny random DistilBERT classifier saved as a real safetensors checkpoint folder."""
    torch.manual_seed(seed)
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=64,
        max_position_embeddings=64,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    DistilBertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({0: "NEGATIVE", 1: "POSITIVE"}, ["negative", "positive"]),
        ({0: "LABEL_0", 1: "LABEL_1"}, ["negative", "positive"]),
        ({0: "Bearish", 1: "Bullish", 2: "Neutral"}, ["negative", "positive", "neutral"]),
        ({0: "positive", 1: "negative", 2: "neutral"}, ["positive", "negative", "neutral"]),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, ["negative", "neutral", "positive"]),
        ({0: "neg", 1: "neu", 2: "pos"}, ["negative", "neutral", "positive"]),
    ],
)
def test_labels_are_normalised(id2label, expected):
    assert normalise(id2label) == expected


def test_label_map_overrides_the_index_order():
    mapping = {"LABEL_0": "negative", "LABEL_1": "positive", "LABEL_2": "neutral"}
    assert normalise({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, mapping) == [
        "negative",
        "positive",
        "neutral",
    ]


@pytest.mark.parametrize(
    ("id2label", "message"),
    [
        ({0: "joy", 1: "anger"}, "'joy'"),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2", 3: "LABEL_3"}, "'LABEL_0'"),
        ({0: "positive", 1: "bullish"}, "twice"),
    ],
)
def test_unmappable_labels_are_refused(id2label, message):
    with pytest.raises(ValueError, match=message):
        normalise(id2label)


def test_three_class_checkpoint_scores_every_label(tmp_path, tokenizer):
    path = _checkpoint(tmp_path / "three", tokenizer, {0: "bearish", 1: "bullish", 2: "neutral"})
    clf = SentimentClassifier.load(path, device="cpu")
    assert (clf.source, clf.version, clf.labels) == (
        "model",
        "three",
        ["negative", "positive", "neutral"],
    )
    assert clf.max_length == 64  # the checkpoint's position limit caps the tokenizer's 512
    results = clf.predict(HEADLINES)
    assert len(results) == len(HEADLINES)
    for scores in results:
        assert sorted(scores.labels) == ["negative", "neutral", "positive"]
        assert scores.scores == sorted(scores.scores, reverse=True)
        assert sum(scores.scores) == pytest.approx(1.0, abs=1e-5)
        assert scores.source == "model"


def test_scores_follow_the_checkpoint_labels(tmp_path, tokenizer):
    """The original read the wrong element; here each score is the logit of its own label."""
    path = _checkpoint(tmp_path / "sst2", tokenizer, {0: "NEGATIVE", 1: "POSITIVE"})
    clf = SentimentClassifier.load(path, device="cpu")
    with torch.no_grad():
        clf.model.classifier.weight.zero_()
        clf.model.classifier.bias.copy_(torch.tensor([-2.0, 2.0]))  # always POSITIVE
    [scores] = clf.predict(["Shares plunge after fraud probe"])
    assert scores.labels == ["positive", "negative"]  # a 2-class model reports its two labels
    assert scores.scores[0] == pytest.approx(
        torch.tensor([-2.0, 2.0]).softmax(0)[1].item(), abs=1e-6
    )


def test_batching_and_ordering_match_one_at_a_time(tmp_path, tokenizer):
    path = _checkpoint(tmp_path / "m", tokenizer, {0: "positive", 1: "negative", 2: "neutral"})
    clf = SentimentClassifier.load(path, device="cpu")
    clf.batch_size = 3
    together = clf.probabilities(HEADLINES)
    alone = torch.cat([clf.probabilities([t]) for t in HEADLINES])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_int8_variant_loads_on_cpu_and_stays_close(tmp_path, tokenizer):
    path = _checkpoint(tmp_path / "m", tokenizer, {0: "positive", 1: "negative", 2: "neutral"})
    full = SentimentClassifier.load(path, device="cpu")
    int8 = SentimentClassifier.load(path, quantized=True)
    assert int8.version == "m-int8"
    linears = [m for m in int8.model.modules() if isinstance(m, torch.nn.Linear)]
    assert not linears and any(isinstance(m, RowInt8Linear) for m in int8.model.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in full.model.modules())  # not changed
    torch.testing.assert_close(
        int8.probabilities(HEADLINES), full.probabilities(HEADLINES), atol=0.05, rtol=0
    )
    with pytest.raises(SentimentModelError, match="cpu only"):
        SentimentClassifier.load(path, quantized=True, device="cuda")


def test_int8_scores_of_a_text_are_bit_for_bit_the_same_in_any_batch(tmp_path, tokenizer):
    """Per-row activation scales and no padding: the rest of the batch cannot matter."""
    path = _checkpoint(tmp_path / "m", tokenizer, {0: "positive", 1: "negative", 2: "neutral"})
    int8 = SentimentClassifier.load(path, quantized=True)
    with torch.no_grad():  # a decisive head, so that any wobble would show in the scores
        int8.model.classifier.weight_scale.mul_(50)
    alone = torch.cat([int8.probabilities([t]) for t in HEADLINES])
    assert torch.equal(int8.probabilities(HEADLINES), alone)
    assert torch.equal(
        int8.probabilities(HEADLINES[::-1] + HEADLINES), torch.cat([alone.flip(0), alone])
    )
    int8.batch_size = 2
    assert torch.equal(int8.probabilities(HEADLINES * 3), alone.repeat(3, 1))


def test_row_int8_linear_matches_float_and_ignores_other_rows():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 24)
    quantized = RowInt8Linear(linear)
    x = torch.randn(5, 7, 64)
    x[0] *= 1000  # one huge row must not change the rounding of the others
    with torch.no_grad():
        expected = linear(x)
        got = quantized(x)
        torch.testing.assert_close(got, expected, rtol=0.02, atol=0.02 * x.abs().amax().item())
        for row in range(5):
            assert torch.equal(quantized(x[row : row + 1]), got[row : row + 1])
    assert quantized.weight_t.dtype == torch.int8


def test_oversize_text_is_truncated_to_max_length_tokens(tmp_path, tokenizer):
    path = _checkpoint(tmp_path / "m", tokenizer, {0: "positive", 1: "negative", 2: "neutral"})
    clf = SentimentClassifier.load(path, device="cpu")
    head = "stocks rally as earnings beat forecasts " * 20  # far beyond 64 tokens
    a, b = clf.probabilities([head + "bankruptcy fraud plunge " * 5000, head + "record profit"])
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_empty_or_non_string_text_is_refused_by_position(tmp_path, tokenizer):
    path = _checkpoint(tmp_path / "m", tokenizer, {0: "positive", 1: "negative", 2: "neutral"})
    clf = SentimentClassifier.load(path, device="cpu")
    with pytest.raises(ValueError, match=r"texts\[1\]: is empty"):
        clf.predict(["fine", "   "])
    with pytest.raises(TypeError, match=r"texts\[0\]: must be a string"):
        clf.predict([None])
    assert clf.predict([]) == []


def test_hub_id_offline_fails_with_one_line_on_how_to_copy():
    with pytest.raises(SentimentModelError) as err:
        SentimentClassifier.load("distilbert-base-uncased-finetuned-sst-2-english")
    message = str(err.value)
    assert "\n" not in message
    assert "--local-dir" in message and "pass its path" in message


def test_folder_without_safetensors_is_refused(tmp_path, tokenizer):
    path = _checkpoint(tmp_path / "m", tokenizer, {0: "positive", 1: "negative", 2: "neutral"})
    (path / "model.safetensors").rename(path / "pytorch_model.bin")
    with pytest.raises(SentimentModelError, match="no \\*.safetensors"):
        SentimentClassifier.load(path)
    with pytest.raises(SentimentModelError, match="no such checkpoint folder"):
        SentimentClassifier.load(tmp_path / "absent")
