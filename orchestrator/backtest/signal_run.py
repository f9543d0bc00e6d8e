"""``premarket backtest --news``: the combined signal's walk forward, end to end.

One price tier (``decision_tier``, by default the statistical one) forecasts every session of
the whole price history, so that the first test year has years before it to fit on. The
statistical tier is the default because it fits nothing: the stored TFT and N-HITS were fitted
on 2015-2021, so their forecasts of those years have seen the outcomes, and a decision model fitted
on them would learn an edge that is not there out of sample; the bundled headlines are scored by the
sentiment model; :mod:`orchestrator.backtest.signal_eval` fits and scores the decision model
year by year, and :mod:`orchestrator.backtest.gap_study` measures what the overnight gap
would add for a run after the open, and :mod:`orchestrator.backtest.news_head` what a head
trained on returns reads in the headlines. ``decision_data`` keeps the rows (features and outcomes)
for ``python -m models.decision.train``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.backtest.data import BacktestError, History
from orchestrator.backtest.engine import walk_forward
from orchestrator.backtest.gap_study import gap_study
from orchestrator.backtest.news_head import Embedder, head_study
from orchestrator.backtest.news_signal import (
    NEWS_TEXT,
    NEWS_WINDOW,
    SOURCES,
    Scorer,
    cache_path,
    headline_texts,
    model_embedder,
    model_scorer,
    news_table,
)
from orchestrator.backtest.signal_eval import decision_dataset, evaluate_signal
from orchestrator.backtest.tiers import MODEL_TIERS, Tier
from premarket.decision import FEATURES
from premarket.settings import SignalSettings

DATA_COLUMNS = [
    "tier", "symbol", "origin", "target", *FEATURES, "sentiment", "articles", "covered",
    "open", "close", "up", "move", "sentiment_model", "news_window", "news_text",
]  # fmt: skip


def pick_tier(tiers: Sequence[Tier], key: str | None) -> Tier:
    """The tier whose forecasts feed the decision model."""
    by_key = {t.key: t for t in tiers}
    if key is not None:
        if key not in by_key:
            raise BacktestError(f"--decision-tier: {key} is not among the tiers that ran")
        return by_key[key]
    return next(by_key[k] for k in ("statistical", *MODEL_TIERS, "drift") if k in by_key)


def signal_backtest(
    histories: dict[str, History],
    tiers: Sequence[Tier],
    sessions: pd.DataFrame,
    *,
    start: date,
    end: date,
    settings: SignalSettings,
    cost_bps: float,
    state_dir: Path,
    decision_tier: str | None = None,
    decision_data: Path | None = None,
    scorer: tuple[Scorer, str] | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The ``signal`` block of the backtest JSON (``scorer`` and ``embedder`` replace the
    sentiment model; with a ``scorer`` and no ``embedder`` the news head is not measured)."""
    tier = pick_tier(tiers, decision_tier)
    first = min(h.dates[0] for h in histories.values()).item()
    run = walk_forward(histories, [tier], first, end, progress=progress)
    score, version = scorer or model_scorer()
    texts = headline_texts(histories, settings.max_articles, settings.article_chars)
    news = news_table(
        histories,
        max_articles=settings.max_articles,
        article_chars=settings.article_chars,
        scorer=score,
        cache=cache_path(state_dir, version),
        texts=texts,  # read once: the news head below reads the same windows
    )
    data = decision_dataset(run.predictions, news, sessions, settings.max_articles)
    data["sentiment_model"] = version
    data["news_window"], data["news_text"] = NEWS_WINDOW, NEWS_TEXT
    if decision_data is not None:
        decision_data.parent.mkdir(parents=True, exist_ok=True)
        data[DATA_COLUMNS].to_csv(decision_data, index=False)
    summary, _ = evaluate_signal(data, start=start, end=end, settings=settings, cost_bps=cost_bps)
    summary["gap"] = gap_study(
        data, histories, start=start, end=end, settings=settings, cost_bps=cost_bps
    )
    embed = embedder or (model_embedder() if scorer is None else None)
    if embed is not None:
        cache = cache_path(state_dir, version, "headline_embeddings")
        summary["news_head"] = head_study(
            data, texts, embed, start=start, end=end, settings=settings, cache=cache
        )
    summary.update(
        price_tier=tier.key,
        sentiment_model=version,
        headline_sets=list(SOURCES),
        sessions_with_news=int((data["articles"] > 0).sum()),
    )
    return summary
