"""The stages of one run, each filling in its part of the run's state.

Market data, then headlines, then forecasts and sentiment side by side; each stage records per
symbol what went wrong, so one symbol's failure never costs another's signal.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import date

from orchestrator.common.clock import close_of, utc_now
from orchestrator.common.retry import CallError
from orchestrator.data.market import Bars, MarketData, MarketDataError
from orchestrator.data.news import Article, NewsError, NewsProvider
from orchestrator.documents.run import RunError, SentimentAnalysis
from orchestrator.forecast.breaker import BreakerBoard
from orchestrator.forecast.chain import ChainOutcome, ForecastChain
from orchestrator.forecast.targets import TargetClient
from orchestrator.signals.news_sentiment import no_news, score_texts, summarize, unavailable
from orchestrator.signals.risk import HISTORY_BARS
from premarket.decision import NewsWindow
from premarket.protocol import is_ticker
from premarket.settings import Settings

SERVICE_FAULTS = (
    "unreachable",
    "server",
    "invalid_answer",
    "skipped (circuit open)",
    "skipped (probe pending)",
)


def elapsed_ms(since: float) -> float:
    """Milliseconds since a ``time.perf_counter()`` reading, as the result reports them."""
    return round((time.perf_counter() - since) * 1000, 3)


def bad_bar(bars: Bars) -> str | None:
    """The first bar whose prices are not positive finite numbers (a feed's zero close), if any.

    Such a bar would break every tier of the forecast; it fails its symbol alone.
    """
    for day, *prices in zip(bars.dates, bars.open, bars.high, bars.low, bars.close, strict=True):
        if not all(math.isfinite(p) and p > 0 for p in prices):
            return f"{bars.symbol}: the bar of {day} has a price that is not positive: {prices}"
    return None


class RunState:
    """The state of one run while it is assembled."""

    def __init__(self, settings: Settings, symbols: list[str], as_of: date | None) -> None:
        self.settings = settings
        self.symbols = symbols
        self.as_of = as_of
        self.errors: list[RunError] = []
        self.bars: dict[str, Bars] = {}
        """The bars the model services get (``chain.history_days``)."""
        self.through: date | None = None
        """Live runs: the last session whose close was final at the start; later bars (a
        session still trading) are dropped."""
        self.risk_bars: dict[str, Bars] = {}
        """The longer history the risk model reads (``signals.risk.HISTORY_BARS``)."""
        self.failed: dict[str, str] = {}
        self.articles: dict[str, list[Article]] = {}
        self.news_errors: dict[str, str] = {}
        self.news_window: NewsWindow = settings.signal.news_window
        """The window the headlines were read over (replays: always the previous session)."""
        self.latency: dict[str, float] = {}
        self.unreachable: dict[str, str] = {}
        self.sentiment_compute_ms = 0.0
        """Model time the sentiment service reported for this run's headlines (for the cost)."""

    def fail(self, symbol: str, stage: str, error: str) -> None:
        self.failed[symbol] = error
        self.errors.append(RunError(symbol=symbol, stage=stage, error=error))

    async def load_market(self, market: MarketData, limit: asyncio.Semaphore) -> None:
        need = self.settings.chain.min_history_days
        days = max(self.settings.chain.history_days, need)
        fetch = max(days, HISTORY_BARS)

        async def one(symbol: str) -> None:
            if not is_ticker(symbol):
                self.fail(symbol, "input", f"symbol {symbol!r}: not a valid ticker")
                return
            async with limit:
                try:
                    bars = await market.history(symbol, fetch)
                except MarketDataError as exc:
                    self.fail(symbol, "market_data", str(exc))
                    return
            if self.through is not None:
                bars = bars.until(self.through)
            if problem := bad_bar(bars.tail(days)):  # what the models get
                self.fail(symbol, "market_data", problem)
                return
            if len(bars) < need:
                last = f" up to {bars.last_date}" if len(bars) else ""
                self.fail(
                    symbol,
                    "market_data",
                    f"{symbol}: insufficient history: {len(bars)} daily bars{last}, "
                    f"the models need at least {need}",
                )
                return
            # a bad print years back must not fail the symbol: the risk model reads the
            # models' window then (its panel alone, without the symbol's own long HAR)
            self.risk_bars[symbol] = bars if bad_bar(bars) is None else bars.tail(days)
            self.bars[symbol] = bars.tail(days)

        await asyncio.gather(*(one(s) for s in self.symbols))

    async def load_news(self, news: NewsProvider, offline: bool, limit: asyncio.Semaphore) -> None:
        """Headlines since the previous close (see ``orchestrator.data.news`` for dated headlines)."""
        now = utc_now()
        if offline:  # dated headlines have no time of day: only whole past sessions place them
            self.news_window = "previous_session"

        async def one(symbol: str, bars: Bars) -> None:
            if self.news_window == "previous_session":  # the session before the business date
                since, until = close_of(bars.dates[-2]), close_of(bars.last_date)
            else:
                since, until = close_of(bars.last_date), now
            async with limit:
                try:
                    found = await news.headlines(symbol, since, until)
                except NewsError as exc:
                    self.news_errors[symbol] = str(exc)
                    self.errors.append(RunError(symbol=symbol, stage="news", error=str(exc)))
                    return
            self.articles[symbol] = found[: self.settings.signal.max_articles]

        await asyncio.gather(*(one(s, b) for s, b in self.bars.items()))

    async def score_news(
        self, client: TargetClient, board: BreakerBoard
    ) -> dict[str, SentimentAnalysis]:
        """Sentiment per symbol, from one batched request for all the run's articles, each
        saying which window and text form it read (the decision model checks them)."""
        result = await self._score_news(client, board)
        for analysis in result.values():
            analysis.news_window = self.news_window
            analysis.news_text = self.settings.signal.news_text
        return result

    async def _score_news(
        self, client: TargetClient, board: BreakerBoard
    ) -> dict[str, SentimentAnalysis]:
        signal = self.settings.signal
        result = {s: unavailable(e) for s, e in self.news_errors.items()}
        wanted = [(s, a) for s, arts in self.articles.items() for a in arts]
        result.update({s: no_news() for s, arts in self.articles.items() if not arts})
        if not wanted:
            return result
        t0 = time.perf_counter()
        breaker = board["sentiment"]
        error = None
        if not breaker.allow():
            error = f"sentiment: circuit open after {breaker.failures} failures"
            self.unreachable["sentiment"] = error
        else:
            try:
                scores = await score_texts(
                    client,
                    [a.text(signal.article_chars, signal.news_text) for _, a in wanted],
                    tries=self.settings.chain.retries + 1,
                    backoff_s=self.settings.chain.backoff_s,
                )
            except CallError as exc:
                error = str(exc)
                if exc.service_fault:
                    breaker.record_failure(error)
                    self.unreachable["sentiment"] = error
                else:
                    breaker.release()
            else:
                breaker.record_success()
        self.latency["sentiment_ms"] = elapsed_ms(t0)
        self.sentiment_compute_ms = client.compute_ms
        if error is not None:
            self.errors.append(RunError(symbol="*", stage="sentiment", error=error))
            result.update({s: unavailable(error) for s, arts in self.articles.items() if arts})
            return result
        by_symbol: dict[str, list] = {}
        for (symbol, article), score in zip(wanted, scores, strict=True):
            by_symbol.setdefault(symbol, []).append((article, score))
        result.update({s: summarize(pairs, signal) for s, pairs in by_symbol.items()})
        return result

    async def forecast_all(
        self, chain: ForecastChain, limit: asyncio.Semaphore
    ) -> dict[str, ChainOutcome]:
        async def one(bars: Bars) -> ChainOutcome | None:
            async with limit:
                try:
                    return await chain.forecast(bars)
                except Exception as exc:  # a bug or bad bars fail this symbol, not the run
                    self.fail(bars.symbol, "forecast", f"{type(exc).__name__}: {exc}"[:300])
                    return None

        outcomes = await asyncio.gather(*(one(b) for b in self.bars.values()))
        found = {s: o for s, o in zip(self.bars, outcomes, strict=True) if o is not None}
        for outcome in found.values():
            for call in outcome.calls:
                if call.outcome in SERVICE_FAULTS:
                    self.unreachable.setdefault(call.target, call.error or "circuit open")
        return found
