"""Domain adaptation to news headlines from the bundled *unlabelled* headlines.

The classifier is fine-tuned on finance tweets, but the pre-market job reads news. Two optional
steps of ``python -m models.sentiment.train`` use the 53k CNBC/Reuters/Guardian and 31k
per-ticker headlines, never their (absent or tool-made) labels:

- :func:`mlm_adapt`: continued masked-language-model pretraining of the encoder on headlines
  before fine-tuning. all-MiniLM-L6-v2 ships without an MLM head, so a new one (tied to the
  frozen word embeddings) is trained with the layers; its logits are computed at the masked
  positions only, which keeps a step about as cheap as a classification step;
- :func:`pseudo_label`: confidence-filtered pseudo-labels for headlines from a fine-tuned model,
  balanced over the three classes, for a self-training round.

``adapted_encoder`` and ``self_train`` run these two steps for ``train.py``. The news check set
(``news_check/``) is never read here; a test checks it is disjoint from
these headlines.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from premarket.data import HEADLINES_CSV, TICKER_HEADLINES_CSV
from premarket.progress import progress_bar

if TYPE_CHECKING:
    from models.sentiment.train import TrainConfig


def headlines(limit: int, seed: int) -> list[str]:
    """``limit`` distinct bundled headlines (both sets), a seeded random sample."""
    news = pd.read_csv(HEADLINES_CSV)["headline"]
    tickers = pd.read_csv(TICKER_HEADLINES_CSV)["Titles"]
    pool = pd.concat([news, tickers]).astype(str).str.strip().drop_duplicates()
    pool = pool[pool.str.len() > 0]
    return pool.sample(n=min(limit, len(pool)), random_state=seed).tolist()


def _mask(ids: torch.Tensor, mask: torch.Tensor, tokenizer, rate: float, gen: torch.Generator):
    """BERT masking: ``rate`` of the real tokens become targets (80% [MASK], 10% random, 10% kept).

    Returns the corrupted ids and the boolean target positions.
    """
    special = torch.zeros_like(ids, dtype=torch.bool)
    for token in tokenizer.all_special_ids:
        special |= ids == token
    target = (torch.rand(ids.shape, generator=gen) < rate) & mask.bool() & ~special
    roll = torch.rand(ids.shape, generator=gen)
    corrupted = ids.clone()
    corrupted[target & (roll < 0.8)] = tokenizer.mask_token_id
    swap = target & (roll >= 0.8) & (roll < 0.9)
    corrupted[swap] = torch.randint(tokenizer.vocab_size, ids.shape, generator=gen)[swap]
    return corrupted, target


def mlm_adapt(
    encoder,
    tokenizer,
    texts: list[str],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    head_warmup: float = 0.2,
    max_length: int = 48,
    mask_rate: float = 0.15,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Continue MLM pretraining of ``encoder`` (a ``DistilBertModel``, changed in place).

    The embeddings stay frozen (the fine-tuning freezes them too, and their dense 30k-row
    gradient would dominate the step). The first ``head_warmup`` of the steps train only the new
    head, so the layers are not pushed around by a random one. Returns the loss of each step.
    """
    from models.sentiment.text import clean

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dim = encoder.config.dim
    transform, norm = torch.nn.Linear(dim, dim), torch.nn.LayerNorm(dim, eps=1e-12)
    vocab_bias = torch.nn.Parameter(torch.zeros(encoder.config.vocab_size))
    words = encoder.embeddings.word_embeddings.weight
    for p in encoder.embeddings.parameters():
        p.requires_grad_(False)
    layers = list(encoder.transformer.parameters())
    head = [*transform.parameters(), *norm.parameters(), vocab_bias]
    optimizer = torch.optim.AdamW(
        [{"params": layers, "lr": lr}, {"params": head, "lr": head_lr}], weight_decay=0.01
    )
    frozen_steps = int(head_warmup * steps)
    layer_steps = steps - frozen_steps
    warm = max(1, int(0.1 * layer_steps))

    def layer_scale(s: int) -> float:
        """0 while only the head trains, then linear warm-up and decay."""
        s -= frozen_steps
        return (
            0.0 if s < 0 else min((s + 1) / warm, max(0.0, (layer_steps - s) / max(1, layer_steps)))
        )

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, [layer_scale, lambda s: 1.0])
    encoded = tokenizer([clean(t) for t in texts], truncation=True, max_length=max_length)
    ids = [torch.tensor(x) for x in encoded["input_ids"]]
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    encoder.train()
    with progress_bar(enabled=progress, status=True) as bar:
        task = bar.add_task("MLM on headlines", total=steps, status="")
        while len(losses) < steps:
            order = rng.permutation(len(ids))
            for start in range(0, len(order) - batch_size + 1, batch_size):
                if len(losses) >= steps:
                    break
                batch = [ids[i] for i in order[start : start + batch_size]]
                width = max(len(x) for x in batch)
                input_ids = torch.zeros(len(batch), width, dtype=torch.long)
                mask = torch.zeros_like(input_ids)
                for r, x in enumerate(batch):
                    input_ids[r, : len(x)], mask[r, : len(x)] = x, 1
                corrupted, target = _mask(input_ids, mask, tokenizer, mask_rate, gen)
                train_layers = len(losses) >= frozen_steps
                with torch.set_grad_enabled(train_layers):
                    hidden = encoder(input_ids=corrupted, attention_mask=mask).last_hidden_state
                h = norm(torch.nn.functional.gelu(transform(hidden[target])))
                loss = torch.nn.functional.cross_entropy(
                    h @ words.T + vocab_bias, input_ids[target]
                )
                loss.backward()
                torch.nn.utils.clip_grad_norm_([*layers, *head], 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                bar.update(task, advance=1, status=f"loss {np.mean(losses[-20:]):.3f}")
    for p in encoder.embeddings.parameters():
        p.requires_grad_(True)
    return losses


def pseudo_label(
    probabilities: torch.Tensor, texts: list[str], labels: list[str], *, threshold: float, cap: int
) -> tuple[list[str], list[str]]:
    """Texts whose top class has probability >= ``threshold``, at most ``cap`` per class.

    The most confident of each class are kept, so that the round adds a balanced set rather
    than mostly the majority class (neutral).
    """
    if not 0 < threshold < 1 or cap < 1:
        raise ValueError("pseudo-label threshold must be in (0, 1) and cap >= 1")
    top, cls = probabilities.max(-1)
    kept: list[int] = []
    for c in range(len(labels)):
        rows = torch.nonzero((cls == c) & (top >= threshold)).flatten()
        rows = rows[torch.argsort(top[rows], descending=True)][:cap]
        kept.extend(rows.tolist())
    kept.sort()
    return [texts[i] for i in kept], [labels[int(cls[i])] for i in kept]


def adapted_encoder(config: TrainConfig):
    """The converted encoder after ``config.mlm_steps`` MLM steps, and a record of the step."""
    from models.sentiment.convert import convert

    started = time.perf_counter()
    encoder, tokenizer = convert()
    texts = headlines(config.mlm_texts, config.seed)
    losses = mlm_adapt(
        encoder, tokenizer, texts, steps=config.mlm_steps, lr=config.mlm_lr,
        seed=config.seed, progress=config.progress,
    )  # fmt: skip
    first, last = (round(float(np.mean(x)), 3) for x in (losses[:50], losses[-50:]))
    record = {"texts": len(texts), "loss_first_last_50": [first, last]}
    return encoder, record | {"seconds": round(time.perf_counter() - started, 1)}


def self_train(config: TrainConfig, model, tokenizer, encoder, texts, labels, evaluated: dict):
    """One self-training round: pseudo-label headlines with ``model``, fine-tune again."""
    from models.sentiment.convert import convert
    from models.sentiment.evaluate import classifier
    from models.sentiment.finetune import fine_tune
    from models.sentiment.labels import LABELS

    pool = headlines(config.self_train_pool, config.seed + 1)
    probs = classifier(model, tokenizer).probabilities(pool)
    extra, extra_labels = pseudo_label(
        probs, pool, list(LABELS), threshold=config.pseudo_threshold, cap=config.pseudo_cap
    )
    evaluated["pseudo_labels"] = {label: extra_labels.count(label) for label in LABELS}
    encoder = encoder if encoder is not None else convert()[0]
    return fine_tune(config, texts + extra, labels + extra_labels, encoder=encoder)
