"""Headlines read for returns, not through a 3-class label (issue 30.1).

Chen, Kelly & Xiu found that text embeddings with a ridge head trained on next-day returns beat
dictionary and 3-class sentiment. This measures that on the bundled headlines, against the
3-class feature the decision model uses, on the same held-out sessions with news:

- each headline of a (symbol, session) window (the windows and texts of
  :mod:`orchestrator.backtest.news_signal`), with the company's names masked (Glasserman & Lin),
  embedded by the project's sentiment encoder (mean-pooled last hidden state, frozen; cached per
  build), averaged over the window;
- a ridge regression of the session's open-to-close return on the embedding, trained on the
  years before the year before the test year; its penalty and a logistic calibration of its
  output are chosen on that year before the test year, and the same ridge then reads the test
  year, so no choice ever sees the test year and the calibration fits the ridge it is used on;
- scored like the other variants (:mod:`orchestrator.backtest.direction_scores`) against the
  base rate (the training years' up share on news days).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest.direction_scores import direction_scores
from orchestrator.backtest.signal_eval import between, fold_years
from orchestrator.data.news import name_pattern
from premarket.decision import L2, fit_logistic, sigmoid
from premarket.settings import SignalSettings

Embedder = Callable[[list[str]], np.ndarray]
"""Texts -> ``[n, d]`` embeddings."""
PENALTIES = (1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0)
MASK = "the company"


def masked(symbol: str, text: str) -> str:
    """``text`` with the symbol's ticker and company names replaced by "the company"."""
    return name_pattern(symbol).sub(MASK, text)


def embed_all(texts: list[str], embed: Embedder, cache: Path | None) -> dict[str, np.ndarray]:
    """Embeddings of ``texts``; those already in ``cache`` (an ``.npz``) are reused."""
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache) as stored:
            known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    todo = sorted({t for t in texts if t not in known})
    for first in range(0, len(todo), 256):
        chunk = todo[first : first + 256]
        known.update(zip(chunk, embed(chunk), strict=True))
    if cache is not None and todo:
        cache.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(known)
        np.savez(cache, texts=np.array(keys), vectors=np.stack([known[k] for k in keys]))
    return known


def window_embeddings(
    texts: dict[tuple[str, pd.Timestamp], list[str]], embed: Embedder, cache: Path | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (symbol, origin) with news and its mean masked-headline embedding."""
    keys = sorted(texts)
    masked_texts = {k: [masked(k[0], t) for t in texts[k]] for k in keys}
    vectors = embed_all([t for ts in masked_texts.values() for t in ts], embed, cache)
    matrix = np.stack([np.mean([vectors[t] for t in masked_texts[k]], axis=0) for k in keys])
    index = pd.DataFrame(keys, columns=["symbol", "origin"])
    return index, matrix


def ridge(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Weights, intercept and column means of a ridge regression on centred, scaled columns."""
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    weights = np.linalg.solve(z.T @ z + penalty * np.eye(z.shape[1]), z.T @ (y - y.mean()))
    return weights / scale, float(y.mean()), mean


def _signal(fit: tuple[np.ndarray, float, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The ridge's prediction less its intercept (the training mean move): what the text adds.
    Calibrating on this, not on the prediction, keeps two ridges fitted on different years
    (different mean moves) on one scale."""
    weights, _, mean = fit
    return (x - mean) @ weights


def _predict(fit: tuple[np.ndarray, float, np.ndarray], x: np.ndarray) -> np.ndarray:
    return fit[1] + _signal(fit, x)


def _fold(rows: pd.DataFrame, x: np.ndarray, test_year: int) -> pd.DataFrame | None:
    """Held-out P(up) of each variant for one test year (None: too little history)."""
    year = rows["target"].dt.year.to_numpy()
    early, calib, test = year < test_year - 1, year == test_year - 1, year == test_year
    if early.sum() < 200 or calib.sum() < 100 or not test.any():
        return None
    train = early | calib
    move, up = rows["move"].to_numpy(float), rows["up"].to_numpy(float)
    fits = {p: ridge(x[early], move[early], p) for p in PENALTIES}
    errors = {
        p: float(np.mean((_predict(f, x[calib]) - move[calib]) ** 2)) for p, f in fits.items()
    }
    penalty = min(errors, key=errors.get)
    # The test year is read by the very ridge the calibration was fitted on: a ridge refitted
    # with the calibration year, at the same penalty, spreads its output differently.
    head = fits[penalty]
    calib_signal = _signal(head, x[calib])
    scale = float(calib_signal.std()) or 1.0
    a, w, _ = fit_logistic((calib_signal / scale)[:, None], up[calib], L2, min_rows=1)
    part = rows[test].copy()
    part["penalty"] = penalty
    part["head_signal"] = _signal(head, x[test])
    part["p_base_rate"] = float(up[train].mean())
    news = rows["news"].to_numpy(float)[:, None]
    b, v, _ = fit_logistic(news[train], up[train], L2, min_rows=1)
    part["p_news"] = sigmoid(b + news[test] @ v)
    part["p_head"] = sigmoid(a + (part["head_signal"].to_numpy() / scale)[:, None] @ w)
    part["mean_abs_move"] = float(np.mean(np.abs(move[train])))
    return part


def head_study(
    data: pd.DataFrame,
    texts: dict[tuple[str, pd.Timestamp], list[str]],
    embed: Embedder,
    *,
    start: date,
    end: date,
    settings: SignalSettings,
    cache: Path | None,
) -> dict[str, Any]:
    """The ``news_head`` block of the backtest JSON: the head against the 3-class feature and
    the base rate on the held-out sessions with news in ``[start, end]``."""
    index, matrix = window_embeddings(texts, embed, cache)
    index["row"] = np.arange(len(index))
    rows = data.merge(index, on=["symbol", "origin"], how="inner").sort_values("target")
    rows = rows.reset_index(drop=True)
    x = matrix[rows["row"].to_numpy()]
    folds = [f for y in fold_years(start, end) if (f := _fold(rows, x, y)) is not None]
    held = between(pd.concat(folds), start, end) if folds else rows.iloc[:0]
    if held.empty:
        return {"skipped": "too few sessions with news before the test years"}
    base = held["p_base_rate"].to_numpy()
    out: dict[str, Any] = {
        "sessions": len(held),
        "test_years": sorted(held["target"].dt.year.unique().tolist()),
        "penalties": held.groupby(held["target"].dt.year)["penalty"].first().tolist(),
        # what the text adds (the ridge less its intercept, the training years' mean move)
        "head_sign_hit_rate": float(np.mean((held["head_signal"] > 0) == (held["up"] > 0.5))),
    }
    for name in ("base_rate", "news", "head"):
        out[name] = direction_scores(held[f"p_{name}"].to_numpy(), held, base, settings)
    return out
