"""Score texts with any local Hugging Face sequence-classification checkpoint.

Loading takes a folder written by ``save_pretrained`` (safetensors only: no pickles are ever
unpickled) or a hub id, which needs a reachable hub; offline it fails with one line saying how to
provide a local copy. Label names are normalised once at load time (see ``labels.py``).

Truncation: each text is cleaned (links dropped, see ``text.py``), cut to
``MAX_CHARS_PER_TOKEN * max_length`` characters so that tokenising a huge text stays cheap, and
then truncated to ``max_length`` tokens: the checkpoint tokenizer's ``model_max_length``, at most
the model's position limit and 512. The project's model says 128 tokens, about 500 characters
of headline and summary; longer text is scored on its beginning.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from models.sentiment.labels import normalise
from models.sentiment.quantize import quantize_int8
from models.sentiment.recipe import recipe_in
from models.sentiment.text import check_texts, clean
from premarket.protocol import SentimentScores

HARD_MAX_LENGTH = 512
MAX_CHARS_PER_TOKEN = 16
"""A generous bound on characters per token (English averages about 4)."""
BATCH_SIZE = 64
"""At most this many texts per forward pass (texts of one width bucket share a pass)."""
BUCKET_STEP = 8
"""Texts are padded to the next multiple of this many tokens (their *own* length decides)."""


class SentimentModelError(RuntimeError):
    """A checkpoint that cannot be loaded; the message is one line saying what to do."""


class SentimentClassifier:
    """A loaded checkpoint that answers :class:`SentimentScores` for a list of texts."""

    source = "model"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer,
        *,
        labels: list[str],
        version: str,
        max_length: int,
        device: str = "cpu",
        batch_size: int = BATCH_SIZE,
        recipe: str | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.labels = labels
        self.version = version
        self.max_length = max_length
        self.device = device
        self.batch_size = batch_size
        self.recipe = recipe
        """The build's identity (``models.sentiment.recipe``); None for a foreign checkpoint."""
        self.tokens_per_s: float | None = None
        """This host's measured speed, once measured (``default.measure_speed``)."""
        self.variant = "int8" if version.endswith("-int8") else "float"
        """Which variant, and why when it was chosen by speed (``default.faster_variant``)."""

    @classmethod
    def load(
        cls,
        source: str | Path,
        *,
        quantized: bool = False,
        device: str | None = None,
        version: str | None = None,
        label_map: Mapping[str, str] | None = None,
    ) -> SentimentClassifier:
        """Load a checkpoint folder or hub id; ``quantized`` gives the int8 CPU variant.

        ``device`` defaults to ``cuda`` when available, else ``cpu`` (always ``cpu`` when
        quantized). ``version`` defaults to the folder name or hub id, with ``-int8`` appended
        for the quantised variant.
        """
        if device is None:
            device = "cuda" if torch.cuda.is_available() and not quantized else "cpu"
        if quantized and device != "cpu":
            raise SentimentModelError(f"device={device!r}: the int8 variant runs on cpu only")
        model, tokenizer = _load_checkpoint(source)
        try:
            labels = normalise(model.config.id2label, label_map)
        except ValueError as exc:
            raise SentimentModelError(f"{source}: {exc}") from None
        model = quantize_int8(model) if quantized else model.to(device)
        limits = [HARD_MAX_LENGTH, getattr(model.config, "max_position_embeddings", None)]
        limits.append(getattr(tokenizer, "model_max_length", None))
        max_length = min(x for x in limits if isinstance(x, int) and x > 0)
        name = version or (Path(source).name if Path(source).is_dir() else str(source))
        return cls(
            model,
            tokenizer,
            labels=labels,
            version=f"{name}-int8" if quantized and not name.endswith("-int8") else name,
            max_length=max_length,
            device=device,
            recipe=recipe_in(Path(source)) if Path(str(source)).is_dir() else None,
        )

    def predict(self, texts: list[str]) -> list[SentimentScores]:
        """Every label with its probability, highest first, for each text (in input order).

        Raises ``ValueError``/``TypeError`` naming the first text that is empty or not a string.
        """
        check_texts(texts)
        probs = self.probabilities(texts)
        out = []
        for row in probs.tolist():
            ranked = sorted(zip(self.labels, row, strict=True), key=lambda x: -x[1])
            out.append(
                SentimentScores(
                    labels=[label for label, _ in ranked],
                    scores=[round(p, 6) for _, p in ranked],
                    source=self.source,
                    model=self.recipe,
                )
            )
        return out

    @torch.inference_mode()
    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """Class probabilities (rows in input order, columns in ``self.labels`` order).

        Each text is padded, with an attention mask, to a width that depends on its own token
        length only (the next multiple of ``BUCKET_STEP``, at most ``max_length``), and texts of
        one width share a forward pass. So a text goes through exactly the same computation
        whatever else is in the request: with the int8 model (per-row scales, exact integer
        products, see ``quantize.py``) its scores are bit-for-bit those it gets alone; the
        float model agrees to about 1e-7 (float sums may be blocked differently for different
        batch sizes). Padding to a few widths instead of batching equal lengths only makes the
        32 mixed-length sentences of a request 3 or 4 passes instead of about 20.
        """
        if not texts:
            return torch.empty(0, len(self.labels))
        probs = torch.empty(len(texts), len(self.labels))
        for idx, batch, mask in self._batches(texts):
            logits = self.model(input_ids=batch, attention_mask=mask).logits
            probs[idx] = logits.float().softmax(-1).cpu()
        return probs

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> torch.Tensor:
        """Each text's mean-pooled last hidden state of the encoder (frozen), ``[n, hidden]``:
        the features a head trained on returns reads (issue 30.1), padded as ``probabilities``
        pads, so a text's embedding does not depend on its batch either."""
        found = torch.empty(0, 0)
        for idx, batch, mask in self._batches(texts):
            states = self.model.base_model(input_ids=batch, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            if not found.numel():
                found = torch.empty(len(texts), pooled.shape[-1])
            found[idx] = pooled.float().cpu()
        return found

    def _batches(self, texts: list[str]):
        """``(indices, input ids, attention mask)`` per forward pass: texts of one padded width
        together, at most ``batch_size`` at a time."""
        cut = MAX_CHARS_PER_TOKEN * self.max_length
        ids = self.tokenizer(
            [clean(t[:cut]) for t in texts], truncation=True, max_length=self.max_length
        )["input_ids"]
        by_width: dict[int, list[int]] = {}
        for i, row in enumerate(ids):
            by_width.setdefault(self.width_of(len(row)), []).append(i)
        pad = self.tokenizer.pad_token_id or 0
        for width, same in by_width.items():
            for start in range(0, len(same), self.batch_size):
                idx = same[start : start + self.batch_size]
                batch = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    batch[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                yield idx, batch.to(self.device), mask.to(self.device)

    def work_of(self, texts: list[str]) -> int:
        """The tokens a forward pass computes for ``texts`` (their padded widths): what the
        service's queue counts, since a long text costs many times a short one."""
        cut = MAX_CHARS_PER_TOKEN * self.max_length
        ids = self.tokenizer(
            [clean(t[:cut]) for t in texts], truncation=True, max_length=self.max_length
        )["input_ids"]
        return sum(self.width_of(len(row)) for row in ids)

    def width_of(self, length: int) -> int:
        """The padded width of a text of ``length`` tokens (a function of it alone)."""
        return min(self.max_length, -(-length // BUCKET_STEP) * BUCKET_STEP)


def _load_checkpoint(source: str | Path):
    """Model and tokenizer from a local folder, or from the hub when it is reachable."""
    local = Path(source).expanduser()
    if local.is_dir():
        if not any(local.glob("*.safetensors")):
            raise SentimentModelError(
                f"{local}: no *.safetensors weights; re-save the checkpoint with "
                f"save_pretrained(dir) (pickled .bin weights are not loaded)"
            )
        where = str(local)
    elif Path(str(source)).is_absolute() or str(source).startswith((".", "~")):
        raise SentimentModelError(f"{source}: no such checkpoint folder")
    else:
        where = str(source)
    # A local load takes milliseconds: transformers' per-tensor progress bar is only noise in
    # the service logs and the demo's output.
    transformers.utils.logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForSequenceClassification.from_pretrained(where, use_safetensors=True)
    except (OSError, ValueError) as exc:
        if local.is_dir():
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SentimentModelError(f"{local}: not a loadable checkpoint ({reason})") from None
        raise SentimentModelError(
            f"cannot load '{source}': it is not a local folder and the Hugging Face hub is "
            f"unreachable or offline (HF_HUB_OFFLINE); on a connected machine run "
            f"`hf download {source} --local-dir DIR`, copy DIR here and pass its path"
        ) from None
    return model, tokenizer
