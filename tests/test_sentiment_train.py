"""A tiny real fine-tuning run end to end: convert, train, evaluate, quantise, store, load."""

from __future__ import annotations

import pytest
import torch

from models import store
from models.sentiment.classifier import SentimentClassifier
from models.sentiment.default import load_default
from models.sentiment.evaluate import metrics
from models.sentiment.finetune import class_weights
from models.sentiment.train import TrainConfig, main, train


def test_metrics_by_hand():
    m = metrics(
        ["positive", "negative", "neutral", "neutral"],
        ["positive", "neutral", "neutral", "neutral"],
    )
    assert m["accuracy"] == 0.75
    assert m["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    # F1: positive 1, negative 0, neutral 2*(2/3*1)/(2/3+1) = 0.8
    assert m["macro_f1"] == pytest.approx((1 + 0 + 0.8) / 3, abs=1e-4)


@pytest.mark.slow
def test_tiny_fine_tuning_run_is_stored_with_metrics_and_serves(monkeypatch, capfd):
    config = TrainConfig(
        train_limit=32, valid_limit=24, epochs=3, batch_size=8, lr=1e-4, progress=False,
        mlm_steps=0,
    )  # fmt: skip
    path = train(config)
    assert "Writing model shards" not in capfd.readouterr().err  # transformers' own bar, off
    meta = store.metadata_of("sentiment")
    assert path == store.path_of("sentiment")
    assert (path / "model.safetensors").is_file() and not list(path.glob("*.bin"))
    losses = meta["train_loss_by_epoch"]
    assert len(losses) == 3 and losses[-1] < losses[0]  # it learned something from 32 tweets
    for kind in ("float", "int8"):
        assert meta["news_check"][kind]["examples"] == 312  # the news check set, always whole
        m = meta["valid"][kind]
        assert sum(map(sum, m["confusion"])) == 24
        assert m["accuracy"] == round(sum(m["confusion"][i][i] for i in range(3)) / 24, 4)
    drop = meta["valid"]["float"]["accuracy"] - meta["valid"]["int8"]["accuracy"]
    assert meta["int8_kept"] is (drop <= 0.01 + 1e-9)

    monkeypatch.setenv("PREMARKET_SERVICE_SENTIMENT_INT8", "false")
    clf = load_default()
    assert isinstance(clf, SentimentClassifier)
    assert clf.version == path.name and clf.max_length == 128
    [scores] = clf.predict(["Apple beats estimates"])
    assert scores.source == "model" and sorted(scores.labels) == ["negative", "neutral", "positive"]
    assert load_default(quantized=True).version == f"{path.name}-int8"

    assert main(["--if-missing"]) == 0  # already stored: nothing to do


def test_class_weights_favour_small_classes_and_average_one_per_example():
    target = torch.tensor([0] + [1] * 2 + [2] * 7)
    balanced = class_weights(target, 3, power=1.0)
    assert (balanced * torch.tensor([1.0, 2.0, 7.0])).tolist() == pytest.approx([10 / 3] * 3)
    mild = class_weights(target, 3, power=0.5)
    assert mild[0] > mild[1] > mild[2] and mild[target].mean().item() == pytest.approx(1.0)
    assert class_weights(target, 3, power=0.0).tolist() == [1.0, 1.0, 1.0]


def test_cli_refuses_bad_numbers(capsys):
    assert main(["--epochs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --epochs must be positive"


def test_cached_frozen_bottom_gives_the_same_logits_as_the_whole_model():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    from models.sentiment.finetune import _frozen_bottom

    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=100, dim=32, n_layers=3, n_heads=4, hidden_dim=64)
    model = DistilBertForSequenceClassification(config).eval()
    ids = [torch.randint(1, 100, (n,)) for n in (5, 9, 3)]
    with torch.no_grad():
        whole = torch.cat([model(input_ids=x[None]).logits for x in ids])
        with _frozen_bottom(model, 2, ids, batch_size=2) as cached:
            model.eval()  # no dropout, so both paths must agree exactly
            top = torch.cat([model(inputs_embeds=h[None]).logits for h in cached])
        again = torch.cat([model(input_ids=x[None]).logits for x in ids])
    torch.testing.assert_close(top, whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(again, whole)  # the full model is put back afterwards
    assert not any(p.requires_grad for p in model.distilbert.transformer.layer[:2].parameters())
    assert all(p.requires_grad for p in model.distilbert.transformer.layer[2].parameters())
