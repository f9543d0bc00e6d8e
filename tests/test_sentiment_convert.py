"""The BERT -> DistilBERT conversion keeps the encoder's function exactly (to 1e-5)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

from models.sentiment.convert import convert, source_dir

TEXTS = [
    "$AAPL - Apple beats estimates as iPhone sales jump https://t.co/abc",
    "Tesla cut to Neutral at BTIG",
    "Fed minutes due",
]


def _hidden_states(model, enc) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = model(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            output_hidden_states=True,
        )
    return out.hidden_states


def _assert_same(bert_states, distil_states, mask: torch.Tensor) -> None:
    assert len(bert_states) == len(distil_states)
    for layer, (b, d) in enumerate(zip(bert_states, distil_states, strict=True)):
        # Padded positions are never read by anything downstream, so only real tokens count.
        diff = (b - d)[mask].abs().max().item()
        assert diff < 1e-5, f"hidden state {layer} differs by {diff}"


def test_minilm_converts_to_distilbert_with_identical_hidden_states():
    distil, tokenizer = convert()
    bert = BertModel.from_pretrained(str(source_dir())).eval()
    assert sum(p.numel() for p in distil.parameters()) == sum(
        p.numel() for n, p in bert.named_parameters() if "pooler" not in n and "token_type" not in n
    )
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert "token_type_ids" not in enc
    _assert_same(
        _hidden_states(bert, enc), _hidden_states(distil, enc), enc["attention_mask"].bool()
    )


def test_token_type_embedding_is_folded_into_positions(tmp_path):
    """A random BERT whose type-0 embedding is large: dropping instead of folding it would fail."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    bert = BertModel(config).eval()
    with torch.no_grad():
        bert.embeddings.token_type_embeddings.weight.normal_(0, 1.0)
    save_file(
        {k: v.contiguous() for k, v in bert.state_dict().items()}, tmp_path / "model.safetensors"
    )
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    for name in ("vocab.txt", "tokenizer.json"):
        (tmp_path / name).write_bytes((source_dir() / name).read_bytes())

    distil, tokenizer = convert(tmp_path)
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    _assert_same(
        _hidden_states(bert, enc), _hidden_states(distil, enc), enc["attention_mask"].bool()
    )


def test_non_bert_source_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "roberta", "hidden_act": "gelu"})
    )
    with pytest.raises(ValueError, match="BERT"):
        convert(tmp_path)
