"""News sentiment per symbol (``docs/ORIGIN.md`` section 3), read correctly.

Each article scores P(positive) - P(negative) from the classifier's full answer (neutral
probability counts by pulling the score toward 0); the original read element 0 of a sorted
answer and so called every headline NEGATIVE. A symbol's signal is the mean over its newest
``max_articles`` articles; above ``sentiment_threshold`` it is BULLISH, below its negative
BEARISH. All articles of a run go to the service in one batched request.
"""

from __future__ import annotations

from orchestrator.common.retry import with_retries
from orchestrator.data.news import Article
from orchestrator.documents.run import ArticleScore, SentimentAnalysis
from orchestrator.forecast.targets import TargetClient
from premarket.protocol import MAX_TEXTS, SentimentScores, recommendation_of
from premarket.settings import SignalSettings

LABEL = {"BUY": "BULLISH", "SELL": "BEARISH", "HOLD": "NEUTRAL"}


def article_score(scores: SentimentScores) -> float:
    return scores.score_of("positive") - scores.score_of("negative")


def summarize(
    scored: list[tuple[Article, SentimentScores]], settings: SignalSettings
) -> SentimentAnalysis:
    """The sentiment component of one symbol's signal."""
    if not scored:
        return no_news()
    values = [article_score(s) for _, s in scored]
    average = sum(values) / len(values)
    recommendation = recommendation_of(average, settings.sentiment_threshold)
    sources = {s.source for _, s in scored}
    builds = sorted({s.model for _, s in scored if s.model})
    return SentimentAnalysis(
        sentiment=LABEL[recommendation],
        signal=round(average, 4),
        confidence=round(min(0.9, 0.6 + abs(average) * 0.3), 4),
        recommendation=recommendation,
        source="model" if sources == {"model"} else "+".join(sorted(sources)),
        article_count=len(scored),
        model="+".join(builds) if builds else None,
        articles=[
            ArticleScore(
                title=article.title,
                published=article.published.isoformat(),
                source=article.source,
                score=round(value, 4),
                label=scores.labels[0],
            )
            for (article, scores), value in zip(scored, values, strict=True)
        ],
    )


def no_news() -> SentimentAnalysis:
    return _neutral("no_news")


def unavailable(reason: str) -> SentimentAnalysis:
    """The service could not score the news: a neutral component that says so."""
    neutral = _neutral("unavailable")
    neutral.error = reason
    return neutral


def _neutral(source: str) -> SentimentAnalysis:
    return SentimentAnalysis(
        sentiment="NEUTRAL",
        signal=0.0,
        confidence=0.5,
        recommendation="HOLD",
        source=source,
        article_count=0,
        articles=[],
    )


async def score_texts(
    client: TargetClient, texts: list[str], *, tries: int, backoff_s: float
) -> list[SentimentScores]:
    """Scores for ``texts`` in one request (chunks of the protocol's maximum when larger)."""
    answers: list[SentimentScores] = []
    for start in range(0, len(texts), MAX_TEXTS):
        chunk = texts[start : start + MAX_TEXTS]
        result, _ = await with_retries(
            lambda chunk=chunk: client.sentiment(chunk), tries=tries, backoff_s=backoff_s
        )
        answers += result
    return answers
