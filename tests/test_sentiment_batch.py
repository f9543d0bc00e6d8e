"""Same text, same scores: a headline scores the same alone or in any batch (issue 15).

The int8 model used to give each batch one activation scale, so a headline's sentiment moved
with the rest of the batch (0.53 apart through the service). 200 real bundled headlines are
scored alone, then in seeded random batches of 2 to 64 of each other (different lengths, so
different padding), in-process and through a real ``bentoml serve``, which also merges
concurrent requests into one batch. 100 formal news texts of 5 to 80 tokens join them (issue 29:
texts are padded to width buckets of their own length). Every score must agree to 1e-5.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from models.sentiment.adapt import headlines
from models.sentiment.news_check import mixed_lengths
from serving.client import post

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5
ROUNDS = 3


def sample() -> list[str]:
    """120 distinct bundled headlines (news and per-ticker sets) and 60 formal news texts of
    about 5 to 80 tokens (headlines with and without a summary)."""
    texts = list(dict.fromkeys(headlines(120, seed=15) + mixed_lengths(60, seed=15)))
    assert len(texts) >= 175
    return texts


def random_batches(n: int, seed: int) -> list[list[int]]:
    """The indices 0..n-1 in random order, cut into batches of 2 to 64."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n).tolist()
    batches: list[list[int]] = []
    while order:
        size = int(rng.integers(2, 65))
        batches.append(order[:size])
        order = order[size:]
    if len(batches[-1]) == 1:  # a lone remainder joins the batch before it
        batches[-2].extend(batches.pop())
    return batches


def as_dict(scores) -> dict[str, float]:
    labels, values = (scores.labels, scores.scores) if hasattr(scores, "labels") else scores
    return dict(zip(labels, values, strict=True))


def worst_difference(alone: list[dict], together: list[tuple[int, dict]]) -> float:
    worst = 0.0
    for i, scores in together:
        assert scores.keys() == alone[i].keys()
        worst = max(worst, *(abs(scores[k] - alone[i][k]) for k in scores))
    return worst


def test_batches_cover_every_size_rule():
    for seed in range(20):
        batches = random_batches(200, seed)
        assert sorted(i for b in batches for i in b) == list(range(200))
        assert all(2 <= len(b) <= 64 + 1 for b in batches)


@pytest.mark.parametrize("quantized", [True, False], ids=["int8", "float"])
def test_in_process_scores_do_not_depend_on_the_batch(tiny_models, quantized):
    from models.sentiment.default import load_default

    clf = load_default(quantized=quantized, tag=tiny_models["sentiment"])
    assert clf.source == "model" and clf.version.endswith("-int8") is quantized
    texts = sample()
    alone = [as_dict(clf.predict([t])[0]) for t in texts]
    together = []
    for seed in range(ROUNDS):
        for batch in random_batches(len(texts), seed):
            scored = clf.predict([texts[i] for i in batch])
            together.extend((i, as_dict(s)) for i, s in zip(batch, scored, strict=True))
    assert len(together) == ROUNDS * len(texts)
    assert worst_difference(alone, together) <= TOLERANCE


def _post(url: str, body) -> list[dict] | dict:
    response = post(  # a busy service's 503 is waited out, as it asks (Retry-After)
        None,
        f"{url}/predict",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_service_scores_do_not_depend_on_the_batch(services):
    url = services.urls["sentiment"]
    model = httpx.get(f"{url}/describe", timeout=30).json()["model"]
    # auto: the faster variant on this host, and it says why (int8 or float, with timings)
    assert model["source"] == "model" and model["variant"].startswith(("int8:", "float:")), model
    assert model["version"].endswith("-int8") is model["variant"].startswith("int8"), model
    texts = sample()
    alone = []
    for text in texts:
        answer = _post(url, {"text": text})
        alone.append(as_dict((answer["labels"], answer["scores"])))
    together = []
    for seed in range(ROUNDS):
        batches = random_batches(len(texts), 100 + seed)
        # Concurrent requests: the service's adaptive batching merges them into bigger batches.
        with ThreadPoolExecutor(4) as pool:
            answers = pool.map(lambda b: _post(url, {"texts": [texts[i] for i in b]}), batches)
            for batch, answer in zip(batches, answers, strict=True):
                pairs = [as_dict((a["labels"], a["scores"])) for a in answer]
                together.extend(zip(batch, pairs, strict=True))
    assert len(together) == ROUNDS * len(texts)
    assert worst_difference(alone, together) <= TOLERANCE


@pytest.mark.parametrize(
    ("quantized", "bound"), [(True, 0.0), (False, 1e-6)], ids=["int8", "float"]
)
def test_padding_to_width_buckets_changes_no_probability(tiny_models, quantized, bound):
    """Raw probabilities of 5-80 token news texts: in one mixed batch (several widths, padded
    with a mask) exactly as alone for int8, within 1e-6 for float."""
    import torch

    from models.sentiment.default import load_default

    clf = load_default(quantized=quantized, tag=tiny_models["sentiment"])
    texts = mixed_lengths(64, seed=3)
    widths = {clf.width_of(len(ids)) for ids in clf.tokenizer(texts)["input_ids"]}
    assert len(widths) >= 4  # the batch really mixes widths
    together = clf.probabilities(texts)
    alone = torch.cat([clf.probabilities([t]) for t in texts])
    assert float((together - alone).abs().max()) <= bound
