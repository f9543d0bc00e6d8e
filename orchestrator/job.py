"""The pre-market run: market data, forecasts, news sentiment, signals, store, alerts.

One call of ``run_analysis`` analyses every symbol it can and says per symbol what happened; a
symbol's failure (no data, too little history) is an error in the result, never a silent
fallback. The run is stored whole, in one transaction, and alerts go out for high-confidence
signals, unreachable services and a failed run. The returned document keeps the shape of the
original's (seed 000) and adds the New York business date, the data's as-of date, the slot,
per-tier counts, latencies and errors.

Business date: the New York session the run prepares for. A live run uses today's New York date;
a replay ``as_of`` a past day prepares for the next NYSE session after it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import statistics
import time
from collections import Counter
from datetime import date, datetime

import httpx

from orchestrator.alerts import (
    RUN_FAILED,
    SERVICE_UNREACHABLE,
    SYMBOL_FAILED,
    Alert,
    AlertSender,
    dispatch,
    signal_alerts,
)
from orchestrator.breaker import BreakerBoard
from orchestrator.chain import ChainOutcome, ForecastChain
from orchestrator.clock import close_of, new_york_date, utc_now
from orchestrator.combine import combine
from orchestrator.market import (
    Bars,
    MarketData,
    MarketDataError,
    OfflineMarketData,
    YahooMarketData,
)
from orchestrator.news import Article, NewsError, NewsProvider, OfflineNews, YahooNews
from orchestrator.retry import CallError
from orchestrator.sentiment import no_news, score_texts, summarize, unavailable
from orchestrator.store import Store
from orchestrator.targets import TargetClient
from premarket.protocol import SYMBOL_PATTERN
from premarket.settings import Settings

TIERS = ("tft", "nhits", "ensemble", "statistical")
SERVICE_FAULTS = ("unreachable", "server", "invalid_answer", "skipped (circuit open)")


def business_date_of(started: datetime, as_of: date | None) -> date:
    if as_of is None:
        return new_york_date(started)
    from orchestrator.trading_calendar import TradingCalendar  # exchange_calendars: ~1 s

    return TradingCalendar().next_session(as_of)


def _run_id(started: datetime) -> str:
    stamp = started.strftime("%Y_%m_%dT%H_%M_%S_") + f"{started.microsecond // 1000:03d}Z"
    return f"run_{stamp}_{secrets.token_hex(3)}"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class _Run:
    """The state of one run while it is assembled."""

    def __init__(self, settings: Settings, symbols: list[str], as_of: date | None) -> None:
        self.settings = settings
        self.symbols = symbols
        self.as_of = as_of
        self.errors: list[dict] = []
        self.bars: dict[str, Bars] = {}
        self.failed: dict[str, str] = {}
        self.articles: dict[str, list[Article]] = {}
        self.news_errors: dict[str, str] = {}
        self.latency: dict[str, float] = {}
        self.unreachable: dict[str, str] = {}

    def fail(self, symbol: str, stage: str, error: str) -> None:
        self.failed[symbol] = error
        self.errors.append({"symbol": symbol, "stage": stage, "error": error})

    async def load_market(self, market: MarketData, limit: asyncio.Semaphore) -> None:
        need = self.settings.chain.min_history_days
        days = max(self.settings.chain.history_days, need)

        async def one(symbol: str) -> None:
            if not re.fullmatch(SYMBOL_PATTERN, symbol):
                self.fail(symbol, "input", f"symbol {symbol!r}: not a valid ticker")
                return
            async with limit:
                try:
                    bars = await market.history(symbol, days)
                except MarketDataError as exc:
                    self.fail(symbol, "market_data", str(exc))
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
            self.bars[symbol] = bars

        await asyncio.gather(*(one(s) for s in self.symbols))

    async def load_news(self, news: NewsProvider, offline: bool, limit: asyncio.Semaphore) -> None:
        """Headlines since the previous close (see ``orchestrator.news`` for dated headlines)."""
        now = utc_now()

        async def one(symbol: str, bars: Bars) -> None:
            if offline:  # dated headlines: the news of the last bar's day and the days before it
                since = close_of(bars.dates[-2])
                until = close_of(bars.last_date)
            else:
                since, until = close_of(bars.last_date), now
            async with limit:
                try:
                    found = await news.headlines(symbol, since, until)
                except NewsError as exc:
                    self.news_errors[symbol] = str(exc)
                    self.errors.append({"symbol": symbol, "stage": "news", "error": str(exc)})
                    return
            self.articles[symbol] = found[: self.settings.signal.max_articles]

        await asyncio.gather(*(one(s, b) for s, b in self.bars.items()))

    async def score_news(self, client: TargetClient, board: BreakerBoard) -> dict[str, dict]:
        """Sentiment per symbol, from one batched request for all the run's articles."""
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
                    [a.text(signal.article_chars) for _, a in wanted],
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
        self.latency["sentiment_ms"] = _ms(time.perf_counter() - t0)
        if error is not None:
            self.errors.append({"symbol": "*", "stage": "sentiment", "error": error})
            result.update({s: unavailable(error) for s, arts in self.articles.items() if arts})
            return result
        by_symbol: dict[str, list] = {}
        for (symbol, article), score in zip(wanted, scores, strict=True):
            by_symbol.setdefault(symbol, []).append((article, score))
        result.update({s: summarize(pairs, signal) for s, pairs in by_symbol.items()})
        return result

    async def forecast_all(self, chain: ForecastChain, limit: asyncio.Semaphore) -> dict:
        async def one(bars: Bars) -> ChainOutcome:
            async with limit:
                return await chain.forecast(bars)

        outcomes = await asyncio.gather(*(one(b) for b in self.bars.values()))
        for outcome in outcomes:
            for call in outcome.calls:
                if call["outcome"] in SERVICE_FAULTS:
                    self.unreachable.setdefault(call["target"], call.get("error") or "circuit open")
        return dict(zip(self.bars, outcomes, strict=True))


def _signal(bars: Bars, outcome: ChainOutcome, sentiment: dict, settings: Settings) -> dict:
    f = outcome.result
    return {
        "success": True,
        **combine(f, sentiment, settings.signal),
        "current_price": round(bars.close[-1], 4),
        "data_as_of": bars.last_date.isoformat(),
        "components": {
            "price_prediction": {
                "model_used": f.model_used,
                "tier": outcome.tier,
                "predicted_price": f.predicted_price,
                "price_change_percent": f.price_change_percent,
                "direction": f.direction,
                "confidence": f.confidence,
                "signal_score": f.signal_score,
                "quantiles": f.quantiles,
                "forecast_path": f.forecast_path,
                "horizon_days": f.horizon_days,
                "model_version": f.model_version,
                "latency_ms": outcome.latency_ms,
                "inference_time_ms": f.inference_time_ms,
                "fallback_reason": outcome.fallback_reason,
                "calls": outcome.calls,
            },
            "sentiment_analysis": sentiment,
        },
    }


def _metrics(signals: dict[str, dict], outcomes: dict[str, ChainOutcome], latency: dict) -> dict:
    ok = [s for s in signals.values() if s.get("success")]
    kinds = Counter(s["action"].split()[0] for s in ok)
    forecast_ms = sorted(o.latency_ms for o in outcomes.values())
    tiers = Counter(o.tier for o in outcomes.values())
    return {
        "success_rate": round(100.0 * len(ok) / len(signals), 1) if signals else 0.0,
        "avg_confidence": round(statistics.fmean(s["confidence"] for s in ok), 4) if ok else 0.0,
        "signal_distribution": {k: kinds.get(k, 0) for k in ("BUY", "SELL", "HOLD")},
        "total_symbols": len(signals),
        "successful_analyses": len(ok),
        "tier_counts": {t: tiers.get(t, 0) for t in TIERS},
        "latency_ms": {
            **latency,
            "forecast_p50": round(statistics.median(forecast_ms), 3) if forecast_ms else None,
            "forecast_max": forecast_ms[-1] if forecast_ms else None,
        },
    }


async def run_analysis(
    settings: Settings,
    *,
    symbols: list[str] | None = None,
    as_of: date | None = None,
    offline: bool = False,
    slot: str | None = None,
    store: Store | None = None,
) -> dict:
    """Run the whole pre-market job once and return its result document (also stored).

    Never raises for a problem of the run itself: a run that could not analyse any symbol, or
    could not be stored, comes back with ``status`` "failed" and its errors.
    """
    started = utc_now()
    t0 = time.perf_counter()
    wanted = list(dict.fromkeys(s.strip().upper() for s in (symbols or settings.symbols)))
    run = _Run(settings, wanted, as_of)
    board = BreakerBoard(settings)
    own_store = store is None
    signals: dict[str, dict] = {}
    outcomes: dict[str, ChainOutcome] = {}
    doc: dict = {
        "run_id": _run_id(started),
        "timestamp": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "business_date": None,
        "as_of": as_of.isoformat() if as_of else None,
        "slot": slot,
        "offline": offline,
        "status": "failed",
        "symbols_analyzed": wanted,
    }
    limit = asyncio.Semaphore(settings.chain.concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as http:
        try:
            doc["business_date"] = business_date_of(started, as_of).isoformat()
            market: MarketData = (
                OfflineMarketData(settings.prices_csv, as_of)
                if offline
                else YahooMarketData(http, as_of=as_of, url_template=settings.yahoo_chart_url)
            )
            news: NewsProvider = (
                OfflineNews() if offline else YahooNews(http, url=settings.yahoo_rss_url)
            )
            t = time.perf_counter()
            await run.load_market(market, limit)
            run.latency["market_data_ms"] = _ms(time.perf_counter() - t)
            t = time.perf_counter()
            await run.load_news(news, offline, limit)
            run.latency["news_ms"] = _ms(time.perf_counter() - t)
            t = time.perf_counter()
            chain = ForecastChain(settings, http, board)
            sentiment_client = TargetClient("sentiment", settings.sentiment, http)
            sentiments, outcomes = await asyncio.gather(
                run.score_news(sentiment_client, board), run.forecast_all(chain, limit)
            )
            run.latency["analysis_ms"] = _ms(time.perf_counter() - t)
            for symbol in wanted:
                if symbol in outcomes:
                    signals[symbol] = _signal(
                        run.bars[symbol], outcomes[symbol], sentiments[symbol], settings
                    )
                else:
                    signals[symbol] = {"success": False, "error": run.failed.get(symbol)}
            if doc["as_of"] is None and run.bars:
                doc["as_of"] = max(b.last_date for b in run.bars.values()).isoformat()
            doc["status"] = (
                "ok" if len(outcomes) == len(wanted) else "partial" if outcomes else "failed"
            )
        except Exception as exc:  # a broken dependency or a bug: the run failed, and says why
            run.errors.append({"symbol": "*", "stage": "run", "error": _describe(exc)})
            doc["status"] = "failed"
        doc["business_date"] = doc["business_date"] or new_york_date(started).isoformat()
        doc["trading_signals"] = signals
        doc["performance_metrics"] = _metrics(signals, outcomes, run.latency)
        doc["errors"] = run.errors

        alerts = signal_alerts(signals, settings.alerts.confidence_threshold)
        alerts += [
            Alert(SERVICE_UNREACHABLE, name, SERVICE_UNREACHABLE, f"Service unreachable: {why}")
            for name, why in sorted(run.unreachable.items())
        ]
        if doc["status"] == "failed":
            alerts.append(Alert(RUN_FAILED, "*", RUN_FAILED, _failure_message(doc)))
        else:  # a partial run: each symbol left out says so once (a failed run alerts as a whole)
            alerts += [
                Alert(SYMBOL_FAILED, s, SYMBOL_FAILED, f"Not analysed: {why}")
                for s, why in sorted(run.failed.items())
            ]
        sender = AlertSender(settings.alerts, http)
        business_date = date.fromisoformat(doc["business_date"])
        try:
            store = store or Store(settings.database_url)
        except Exception as exc:
            store = None
            run.errors.append({"symbol": "*", "stage": "store", "error": _describe(exc)})
            doc["status"] = "failed"
        doc["alerts"] = await dispatch(
            alerts, sender=sender, store=store, business_date=business_date
        )
        doc["breakers"] = board.states()
        try:
            board.save()
        except OSError as exc:
            run.errors.append({"symbol": "*", "stage": "breakers", "error": _describe(exc)})
        doc["performance_metrics"]["latency_ms"]["total_ms"] = _ms(time.perf_counter() - t0)
        if store is not None:
            try:
                store.save_run(doc)
                store.purge(settings.retention_days)
            except Exception as exc:
                run.errors.append({"symbol": "*", "stage": "store", "error": _describe(exc)})
                doc["status"] = "failed"
                doc["alerts"] += await dispatch(
                    [Alert(RUN_FAILED, "*", RUN_FAILED, _failure_message(doc))],
                    sender=sender,
                    store=None,
                    business_date=business_date,
                )
            finally:
                if own_store:
                    store.close()
    return doc


def _describe(exc: BaseException) -> str:
    """One line; the type and message (no URLs of secrets are put into our exceptions)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _failure_message(doc: dict) -> str:
    first = doc["errors"][0]["error"] if doc["errors"] else "no symbol could be analysed"
    return f"Pre-market run {doc['run_id']} failed ({doc['business_date']}): {first}"
