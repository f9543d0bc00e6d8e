"""A sentiment build's identity: the recipe that makes it, not the store's random tag.

The decision model is fitted on one build's scores, and a run must know whether the scores it
feeds it come from the same build. BentoML gives every stored model a random version, so two
clones that build the same commit get different tags; what they share is the recipe: the
architecture, the pretrained base and its package version, the training data, the labels and
the training options. Its hash, ``sentiment-recipe:<12 hex>``, is the identity recorded by the
build (``metrics.json``), answered by the service with every score (``SentimentScores.model``)
and checked by the signal against the one the decision model was fitted on. The torch thread
count is left out: it changes the last bits of the weights, not the recipe.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PREFIX = "sentiment-recipe:"
KEYS = ("architecture", "base", "data", "labels", "config")
"""The build metadata that makes the weights (the rest are measurements of them)."""
NOT_RECIPE = ("threads",)


def recipe_of(metadata: dict[str, Any]) -> str:
    """The identity of the build ``metadata`` describes (the keys in :data:`KEYS`)."""
    missing = [k for k in KEYS if k not in metadata]
    if missing:
        raise ValueError(f"build metadata lacks {', '.join(missing)}")
    parts = {k: metadata[k] for k in KEYS}
    parts["config"] = {k: v for k, v in parts["config"].items() if k not in NOT_RECIPE}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()[:12]


def recipe_in(folder: Path) -> str | None:
    """The recipe of the checkpoint in ``folder`` (None: not a build of this project)."""
    try:
        return recipe_of(json.loads((Path(folder) / "metrics.json").read_text()))
    except (OSError, ValueError, AttributeError):
        return None
