"""Fine-tuning the encoder into the 3-class classifier (step 2 of ``train.py``).

Speed on 2 CPU cores comes from batches of similar length (little padding) and a frozen bottom:
the embeddings (whose dense gradient and optimiser update over the 30k-word table cost more than
the rest of a step) and the lowest ``freeze_layers`` layers are run once, and only the layers
above them train on the cached output.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch

from models.sentiment.labels import LABELS
from premarket.progress import progress_bar

if TYPE_CHECKING:
    from models.sentiment.train import TrainConfig


def class_weights(target: torch.Tensor, n_classes: int, power: float) -> torch.Tensor:
    """Per-class loss weights ``count ** -power``, with a mean of 1 over the examples."""
    counts = torch.bincount(target, minlength=n_classes).clamp(min=1).double()
    weights = counts**-power
    return (weights * counts.sum() / (weights * counts).sum()).float()


def length_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list:
    """Indices grouped into batches of similar length, in random batch order."""
    order = np.lexsort((rng.random(len(lengths)), np.asarray(lengths)))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    return chunks


class _PassThrough(torch.nn.Module):
    """Stands in for the embeddings while the top layers train on cached hidden states."""

    def forward(self, input_ids=None, inputs_embeds=None, position_ids=None):
        return inputs_embeds


def pad_rows(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token rows (ids or hidden states) to one width; returns (padded, mask)."""
    width = max(len(r) for r in rows)
    padded = rows[0].new_zeros((len(rows), width, *rows[0].shape[1:]))
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return padded, mask


@contextmanager
def _frozen_bottom(model, n_frozen: int, ids: list[torch.Tensor], batch_size: int):
    """Run the embeddings and the bottom ``n_frozen`` layers once, then train only the rest.

    The frozen part's output never changes, so computing it once instead of every epoch cuts
    the cost of each later step by that fraction; yields the cached hidden state of each text.
    """
    encoder = model.distilbert
    embeddings, layers = encoder.embeddings, encoder.transformer.layer
    for p in [*embeddings.parameters(), *layers[:n_frozen].parameters()]:
        p.requires_grad_(False)
    encoder.transformer.layer = layers[:n_frozen]
    encoder.eval()
    cached: list[torch.Tensor] = [torch.empty(0)] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            input_ids, mask = pad_rows([ids[i] for i in chunk])
            hidden = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
            for row, i in enumerate(chunk):
                cached[i] = hidden[row, : len(ids[i])].clone()
    encoder.embeddings, encoder.transformer.layer = _PassThrough(), layers[n_frozen:]
    try:
        yield cached
    finally:
        encoder.embeddings, encoder.transformer.layer = embeddings, layers


def fine_tune(config: TrainConfig, texts: list[str], labels: list[str], encoder=None):
    """``encoder`` (default: the converted one) with a new 3-class head, fine-tuned.

    Returns the model, its tokenizer and the mean training loss of each (partial) epoch.
    """
    from transformers import DistilBertForSequenceClassification

    from models.sentiment.convert import convert, load_tokenizer
    from models.sentiment.text import clean

    encoder, tokenizer = convert() if encoder is None else (encoder, load_tokenizer())
    if not 0 <= config.freeze_layers < encoder.config.n_layers:
        raise ValueError(f"freeze_layers: must be 0..{encoder.config.n_layers - 1}")
    if not 0 <= config.label_smoothing < 1:
        raise ValueError("label_smoothing: must be in [0, 1)")
    if config.class_weight_power < 0 or config.head_lr_scale <= 0:
        raise ValueError("class_weight_power must be >= 0 and head_lr_scale > 0")
    tokenizer.model_max_length = config.serve_max_length
    encoder.config.num_labels = len(LABELS)
    encoder.config.id2label = dict(enumerate(LABELS))
    encoder.config.label2id = {label: i for i, label in enumerate(LABELS)}
    torch.manual_seed(config.seed)
    model = DistilBertForSequenceClassification(encoder.config)
    model.distilbert.load_state_dict(encoder.state_dict())

    encoded = tokenizer([clean(t) for t in texts], truncation=True, max_length=config.max_length)
    ids = [torch.tensor(x) for x in encoded["input_ids"]]
    target = torch.tensor([LABELS.index(x) for x in labels])
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=class_weights(target, len(LABELS), config.class_weight_power),
        label_smoothing=config.label_smoothing,
    )
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = math.ceil(len(ids) / config.batch_size)
    total = max(1, math.ceil(config.epochs * steps_per_epoch))
    warmup = max(1, int(config.warmup * total))
    losses: list[float] = []

    with (
        _frozen_bottom(model, config.freeze_layers, ids, 4 * config.batch_size) as inputs,
        progress_bar(enabled=config.progress, status=True) as bar,
    ):
        params = [p for p in model.parameters() if p.requires_grad]
        head = {id(p) for p in [*model.pre_classifier.parameters(), *model.classifier.parameters()]}
        optimizer = torch.optim.AdamW(
            [
                {
                    "params": [
                        p for p in params if (p.ndim >= 2) == decay and (id(p) in head) == top
                    ],
                    "weight_decay": config.weight_decay if decay else 0.0,
                    "lr": config.lr * (config.head_lr_scale if top else 1.0),
                }
                for decay in (True, False)
                for top in (True, False)
            ],
            lr=config.lr,
        )
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup + 1))),
        )
        model.train()
        task = bar.add_task("fine-tuning", total=total, status="")
        running = None
        while len(losses) < total:
            for batch in length_batches([len(x) for x in ids], config.batch_size, rng):
                if len(losses) >= total:
                    break
                hidden, mask = pad_rows([inputs[i] for i in batch])
                logits = model(inputs_embeds=hidden, attention_mask=mask).logits
                loss = loss_fn(logits, target[batch])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                running = losses[-1] if running is None else 0.95 * running + 0.05 * losses[-1]
                epoch = len(losses) / steps_per_epoch
                bar.update(task, advance=1, status=f"epoch {epoch:.2f} loss {running:.3f}")
    by_epoch = [
        round(float(np.mean(losses[i : i + steps_per_epoch])), 4)
        for i in range(0, len(losses), steps_per_epoch)
    ]
    return model.eval(), tokenizer, by_epoch
