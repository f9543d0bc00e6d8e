"""Domain adaptation (MLM on headlines, self-training) and the news check set (issue 21)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import DistilBertConfig, DistilBertModel

from models.sentiment import news_check
from models.sentiment.adapt import _mask, headlines, mlm_adapt, pseudo_label
from models.sentiment.convert import load_tokenizer
from models.sentiment.labels import LABELS
from models.sentiment.train import TrainConfig, main, train
from premarket.data import (
    HEADLINES_CSV,
    SENTIMENT_TRAIN_CSV,
    SENTIMENT_VALID_CSV,
    TICKER_HEADLINES_CSV,
)


def _normal(texts) -> set[str]:
    return {" ".join(str(t).lower().split()) for t in texts}


def test_news_check_set_is_balanced_labelled_and_documented():
    texts, labels = news_check.load()
    assert len(texts) >= 300 and len(set(texts)) == len(texts)
    counts = {label: labels.count(label) for label in LABELS}
    assert set(labels) == set(LABELS) and max(counts.values()) == min(counts.values())
    frame = pd.read_csv(news_check.CHECK_CSV)
    assert frame["sector"].nunique() >= 10 and list(frame["id"]) == list(range(1, len(frame) + 1))
    guide = news_check.CHECK_CSV.with_name("GUIDE.md").read_text()
    assert "never training data" in guide and "Financial PhraseBank" in guide


def test_news_check_set_is_kept_out_of_every_training_source():
    check = _normal(news_check.load()[0])
    tweets = pd.concat([pd.read_csv(SENTIMENT_TRAIN_CSV), pd.read_csv(SENTIMENT_VALID_CSV)])
    unlabelled = [
        *pd.read_csv(HEADLINES_CSV)["headline"],
        *pd.read_csv(TICKER_HEADLINES_CSV)["Titles"],
    ]
    assert not check & _normal(tweets["text"])
    assert not check & _normal(unlabelled)


def test_headline_sample_is_seeded_and_distinct():
    a, b = headlines(500, seed=3), headlines(500, seed=3)
    assert a == b and len(set(a)) == 500 and headlines(500, seed=4) != a


def test_pseudo_labels_keep_the_confident_and_cap_each_class():
    probs = torch.tensor(
        [[0.95, 0.03, 0.02], [0.91, 0.05, 0.04], [0.5, 0.3, 0.2], [0.05, 0.9, 0.05],
         [0.1, 0.1, 0.8], [0.02, 0.02, 0.96], [0.97, 0.02, 0.01]]
    )  # fmt: skip
    texts = [f"t{i}" for i in range(7)]
    kept, labels = pseudo_label(probs, texts, list(LABELS), threshold=0.9, cap=2)
    # t2 and t4 are not confident; of the three confident positives, the two surest stay.
    assert kept == ["t0", "t3", "t5", "t6"]
    assert labels == ["positive", "negative", "neutral", "positive"]
    with pytest.raises(ValueError, match="threshold"):
        pseudo_label(probs, texts, list(LABELS), threshold=1.0, cap=2)


def test_masking_targets_real_tokens_only():
    tokenizer = load_tokenizer()
    enc = tokenizer(
        ["Shares of Acme rose after results beat forecasts"] * 64,
        padding="max_length",
        max_length=16,
    )
    ids, mask = torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"])
    corrupted, target = _mask(ids, mask, tokenizer, 0.3, torch.Generator().manual_seed(0))
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    assert target.any() and not (target & special).any() and not (target & (mask == 0)).any()
    assert torch.equal(corrupted[~target], ids[~target])
    share = (corrupted[target] == tokenizer.mask_token_id).float().mean().item()
    assert 0.6 < share < 0.95  # about 80% of the targets become [MASK]


def test_mlm_adapt_trains_the_new_head_alone_first_then_the_layers_never_the_embeddings():
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=4, hidden_dim=64
    )
    encoder = DistilBertModel(config)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    texts = headlines(64, seed=0)
    losses = mlm_adapt(encoder, tokenizer, texts, steps=0, head_steps=40, batch_size=8)
    assert len(losses["head"]) == 40 and losses["layers"] == []
    assert np.mean(losses["head"][-5:]) < np.mean(losses["head"][:5]) - 0.05  # it learns
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in before.items())  # head only
    losses = mlm_adapt(encoder, tokenizer, texts, steps=4, head_steps=2, batch_size=8)
    assert len(losses["layers"]) == 4 and all(np.isfinite(losses["layers"]))
    after = encoder.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items() if k.startswith("embeddings"))
    assert not torch.equal(
        before["transformer.layer.1.ffn.lin1.weight"], after["transformer.layer.1.ffn.lin1.weight"]
    )
    assert all(p.requires_grad for p in encoder.parameters())  # handed back trainable


def test_cli_refuses_negative_adaptation_options(capsys):
    assert main(["--mlm-steps", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --mlm-steps must be >= 0"
    assert main(["--pseudo-cap", "0"]) == 2


@pytest.mark.slow
def test_tiny_build_with_mlm_and_self_training_reports_each_step_and_repeats_exactly(tmp_path):
    """Every step of the recipe runs and is reported, and a second build of the same commit,
    seed and thread count gives the same weights, bit for bit (issue 32.1)."""
    config = TrainConfig(
        train_limit=32, valid_limit=16, epochs=1.0, threads=1, progress=False,
        save_to_store=False, out=tmp_path / "m", mlm_steps=3, mlm_head_steps=3, mlm_texts=96,
        self_train_pool=64, pseudo_threshold=0.34, pseudo_cap=8,
    )  # fmt: skip
    built = train(config)
    meta = json.loads((built / "metrics.json").read_text())
    mlm = meta["adaptation"]["mlm"]
    assert mlm["texts"] == 96 and len(mlm["layers_loss_first_last"]) == 2
    self_train = meta["adaptation"]["self_train"]
    assert 0 < sum(self_train["pseudo_labels"].values()) <= 3 * 8
    assert self_train["teacher_float"]["news_check"]["examples"] == len(news_check.load()[0])
    for kind in ("float", "int8"):
        assert meta["news_check"][kind]["examples"] == len(news_check.load()[0])
        assert meta["valid"][kind]["examples"] == 16
    first = load_file(built / "model.safetensors")
    again = load_file(train(replace(config, out=tmp_path / "again")) / "model.safetensors")
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
