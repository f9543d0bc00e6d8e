"""The news side of the walk forward: each (symbol, session)'s headlines, scored as live runs do.

For the session of business date ``D`` (forecast at the close of the day before, the origin) the
headlines are those an offline run for ``D`` reads (``orchestrator.data.news.OfflineNews``, the
window after the close before the origin up to the origin's close), de-duplicated, newest first,
at most ``max_articles``; each is scored ``P(positive) - P(negative)`` by the sentiment model and
the scores are averaged, exactly as :mod:`orchestrator.signals.news_sentiment` does.

The sentiment model runs in-process (the backtest's documented exception to the orchestrator's
HTTP-only rule, like the model tiers), loaded lazily. Scores are cached in a JSON file per model
version, so later backtests do not score the same headline again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.backtest.data import BacktestError, History
from orchestrator.common.clock import close_of
from orchestrator.data.news import OfflineNews
from premarket.data import HEADLINES_CSV, TICKER_HEADLINES_CSV
from premarket.decision import NewsText, NewsWindow

COVERAGE = (
    (date(2017, 12, 18), date(2020, 7, 17)),
    (date(2021, 1, 4), date(2022, 9, 20)),
)
"""Origins (forecast days) whose news window the bundled headline sets cover."""

NEWS_WINDOW: NewsWindow = "previous_session"
"""The window the walk forward reads (dated headlines place no other), recorded in the fit."""
NEWS_TEXT: NewsText = "title"
"""The bundled headline sets have titles only."""

Scorer = Callable[[list[str]], list[float]]
"""Texts -> ``P(positive) - P(negative)`` per text."""


def covered(origins: pd.Series) -> np.ndarray:
    """Whether each origin's news window lies inside the bundled headlines' coverage."""
    days = pd.to_datetime(origins).dt.date
    return np.array([any(a <= d <= b for a, b in COVERAGE) for d in days])


def headline_texts(
    histories: dict[str, History], max_articles: int, article_chars: int
) -> dict[tuple[str, pd.Timestamp], list[str]]:
    """The texts a run would score, keyed by (symbol, origin), for every covered origin."""
    news = OfflineNews()

    async def collect() -> dict[tuple[str, pd.Timestamp], list[str]]:
        found: dict[tuple[str, pd.Timestamp], list[str]] = {}
        for history in histories.values():
            for i in range(1, len(history.dates)):
                origin = history.dates[i].item()
                if not any(a <= origin <= b for a, b in COVERAGE):
                    continue
                since, until = close_of(history.dates[i - 1].item()), close_of(origin)
                articles = await news.headlines(history.symbol, since, until)
                if articles:
                    texts = [a.text(article_chars, NEWS_TEXT) for a in articles[:max_articles]]
                    found[(history.symbol, pd.Timestamp(origin))] = texts
        return found

    return asyncio.run(collect())


def model_scorer() -> tuple[Scorer, str]:
    """The stored sentiment model, in-process, and its recipe (``models.sentiment.recipe``);
    refuses the lexicon fallback and a build that does not record its recipe (a fit on their
    scores could not say what it was fitted on)."""
    classifier = stored_classifier()

    def score(texts: list[str]) -> list[float]:
        return [s.score_of("positive") - s.score_of("negative") for s in classifier.predict(texts)]

    return score, classifier.recipe


def model_embedder() -> Callable[[list[str]], np.ndarray]:
    """The stored sentiment model's encoder: texts -> mean-pooled embeddings (issue 30.1)."""
    classifier = stored_classifier()
    return lambda texts: classifier.embed(texts).numpy()


@lru_cache(maxsize=1)
def stored_classifier():
    """The stored sentiment model, loaded once per process (see :func:`model_scorer`)."""
    try:
        from models.sentiment.default import load_default
    except ImportError as exc:
        raise BacktestError(f"--news: the model stack is not installed ({exc.name})") from None
    classifier = load_default()
    if getattr(classifier, "source", "") != "model":
        raise BacktestError(
            "--news: no sentiment model in the BentoML store; train it with "
            "`python -m models.sentiment.train`"
        )

    if classifier.recipe is None:
        raise BacktestError(
            "--news: the stored sentiment model does not record its recipe; rebuild it with "
            "`python -m models.sentiment.train`"
        )
    return classifier


def score_all(texts: list[str], scorer: Scorer, cache: Path | None) -> dict[str, float]:
    """Scores of ``texts``; those already in ``cache`` are reused and new ones added to it."""
    known: dict[str, float] = json.loads(cache.read_text()) if cache and cache.exists() else {}
    todo = sorted({t for t in texts if t not in known})
    for first in range(0, len(todo), 256):
        chunk = todo[first : first + 256]
        known.update(zip(chunk, scorer(chunk), strict=True))
    if cache and todo:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known))
    return known


def news_table(
    histories: dict[str, History],
    *,
    max_articles: int,
    article_chars: int,
    scorer: Scorer,
    cache: Path | None,
    texts: dict[tuple[str, pd.Timestamp], list[str]] | None = None,
) -> pd.DataFrame:
    """Per (symbol, origin) with news: ``sentiment`` (mean article score) and ``articles``
    (``texts``: the windows' headlines when the caller has read them already)."""
    if texts is None:
        texts = headline_texts(histories, max_articles, article_chars)
    scores = score_all([t for ts in texts.values() for t in ts], scorer, cache)
    rows = [
        (symbol, origin, float(np.mean([scores[t] for t in ts])), len(ts))
        for (symbol, origin), ts in texts.items()
    ]
    return pd.DataFrame(rows, columns=["symbol", "origin", "sentiment", "articles"])


def cache_path(state_dir: Path, sentiment_version: str, kind: str = "headline_scores") -> Path:
    """Where the scores (or, ``kind="headline_embeddings"``, the embeddings) of one sentiment
    model version are kept."""
    safe = sentiment_version.replace(":", "_").replace("/", "_")
    suffix = ".npz" if kind == "headline_embeddings" else ".json"
    return state_dir / kind / f"{safe}{suffix}"


SOURCES = (HEADLINES_CSV.name, TICKER_HEADLINES_CSV.name)
"""The bundled headline sets, recorded with the results."""
