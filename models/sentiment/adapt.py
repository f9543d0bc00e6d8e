"""Domain adaptation to news headlines from the bundled *unlabelled* headlines.

The classifier is fine-tuned on finance tweets, but the pre-market job reads news. Two optional
steps of ``python -m models.sentiment.train`` use the 53k CNBC/Reuters/Guardian and 31k
per-ticker headlines, never their (absent or tool-made) labels:

- :func:`mlm_adapt`: continued masked-language-model pretraining of the encoder on headlines
  before fine-tuning. all-MiniLM-L6-v2 ships without an MLM head, so a new one (tied to the
  frozen word embeddings) is first trained alone on frozen encoder outputs, then with the
  layers; its logits are computed at the masked positions only, which keeps a step about as
  cheap as a classification step;
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

HEAD_TEXTS = 4096
"""Headlines whose encoder outputs (at the masked positions) train the new MLM head."""


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


def _batches(ids: list[torch.Tensor], batch_size: int, rng: np.random.Generator):
    """Endless right-padded (input_ids, mask) batches of ``ids``, reshuffled every pass."""
    from models.sentiment.finetune import pad_rows

    while True:
        order = rng.permutation(len(ids))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield pad_rows([ids[i] for i in order[start : start + batch_size]])


class _MLMHead(torch.nn.Module):
    """BERT's MLM head (dense, GELU, LayerNorm, then the word embeddings as the output layer)."""

    def __init__(self, words: torch.nn.Parameter) -> None:
        super().__init__()
        dim = words.shape[1]
        self.transform, self.norm = torch.nn.Linear(dim, dim), torch.nn.LayerNorm(dim, eps=1e-12)
        self.bias = torch.nn.Parameter(torch.zeros(words.shape[0]))
        # Tied, not owned: the frozen embedding table (same storage), kept out of parameters().
        self.words = words.detach()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return (
            self.norm(torch.nn.functional.gelu(self.transform(hidden))) @ self.words.T + self.bias
        )


def mlm_adapt(
    encoder,
    tokenizer,
    texts: list[str],
    *,
    steps: int,
    head_steps: int = 300,
    batch_size: int = 32,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    max_length: int = 48,
    mask_rate: float = 0.15,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Continue MLM pretraining of ``encoder`` (a ``DistilBertModel``, changed in place).

    all-MiniLM-L6-v2 has no MLM head, and a random head's gradients would push the layers away
    from what they know, so the new head is trained first, alone, for ``head_steps`` on
    encoder outputs computed once (the encoder is frozen then, so each head step costs only the
    vocabulary projection, not a forward pass). Then ``steps`` steps train the layers and the
    head together. The embeddings stay frozen (the fine-tuning freezes them too, and their dense
    30k-row gradient would dominate a step). Returns the loss of every head and layer step.
    """
    from models.sentiment.text import clean

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    words = encoder.embeddings.word_embeddings.weight
    for p in encoder.embeddings.parameters():
        p.requires_grad_(False)
    head = _MLMHead(words)
    encoded = tokenizer([clean(t) for t in texts], truncation=True, max_length=max_length)
    batches = _batches([torch.tensor(x) for x in encoded["input_ids"]], batch_size, rng)

    def masked() -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder outputs at the masked positions of the next batch, and their true ids."""
        input_ids, mask = next(batches)
        corrupted, target = _mask(input_ids, mask, tokenizer, mask_rate, gen)
        hidden = encoder(input_ids=corrupted, attention_mask=mask).last_hidden_state
        return hidden[target], input_ids[target]

    losses: dict[str, list[float]] = {"head": [], "layers": []}
    with progress_bar(enabled=progress, status=True) as bar:
        encoder.eval()
        with torch.no_grad():  # one pass over up to HEAD_TEXTS headlines, about 2 targets each
            passes = [masked() for _ in range(max(1, min(len(texts), HEAD_TEXTS) // batch_size))]
        features, gold = (torch.cat(x) for x in zip(*passes, strict=True))
        optimizer = torch.optim.AdamW(head.parameters(), lr=head_lr, weight_decay=0.01)
        task = bar.add_task("MLM head on frozen features", total=head_steps, status="")
        for _ in range(head_steps):
            pick = torch.from_numpy(rng.choice(len(gold), size=min(len(gold), 8 * batch_size)))
            losses["head"].append(_step(head(features[pick]), gold[pick], optimizer))
            bar.update(task, advance=1, status=f"loss {np.mean(losses['head'][-20:]):.3f}")

        trained = [p for p in [*encoder.parameters(), *head.parameters()] if p.requires_grad]
        optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.01)
        warm = max(1, int(0.1 * steps))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps)))
        )
        encoder.train()
        task = bar.add_task("MLM on headlines", total=steps, status="")
        for _ in range(steps):
            hidden, target = masked()
            losses["layers"].append(_step(head(hidden), target, optimizer))
            schedule.step()
            bar.update(task, advance=1, status=f"loss {np.mean(losses['layers'][-20:]):.3f}")
    for p in encoder.embeddings.parameters():
        p.requires_grad_(True)
    return losses


def _step(logits: torch.Tensor, gold: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One optimiser step on the cross-entropy, gradients clipped to norm 1; returns the loss."""
    loss = torch.nn.functional.cross_entropy(logits, gold)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


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
    """The converted encoder after MLM on headlines (``config.mlm_*``), and a record of the step."""
    from models.sentiment.convert import convert

    started = time.perf_counter()
    encoder, tokenizer = convert()
    texts = headlines(config.mlm_texts, config.seed)
    losses = mlm_adapt(
        encoder, tokenizer, texts, steps=config.mlm_steps, head_steps=config.mlm_head_steps,
        lr=config.mlm_lr, seed=config.seed, progress=config.progress,
    )  # fmt: skip
    record: dict = {"texts": len(texts)}
    for phase, values in losses.items():  # mean loss of the first and the last 50 steps
        n = max(1, min(50, len(values) // 2))
        record[f"{phase}_loss_first_last"] = [
            round(float(np.mean(x)), 3) for x in (values[:n], values[-n:])
        ]
    return encoder, record | {"seconds": round(time.perf_counter() - started, 1)}


def self_train(config: TrainConfig, model, tokenizer, encoder, texts, labels, evaluated: dict):
    """One self-training round: pseudo-label headlines with ``model``, fine-tune again."""
    from models.sentiment.convert import convert
    from models.sentiment.evaluate import in_memory
    from models.sentiment.finetune import fine_tune
    from models.sentiment.labels import LABELS

    pool = headlines(config.self_train_pool, config.seed + 1)
    probs = in_memory(model, tokenizer).probabilities(pool)
    extra, extra_labels = pseudo_label(
        probs, pool, list(LABELS), threshold=config.pseudo_threshold, cap=config.pseudo_cap
    )
    evaluated["pseudo_labels"] = {label: extra_labels.count(label) for label in LABELS}
    encoder = encoder if encoder is not None else convert()[0]
    return fine_tune(config, texts + extra, labels + extra_labels, encoder=encoder)
