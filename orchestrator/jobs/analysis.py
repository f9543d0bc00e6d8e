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
import secrets
import time
from datetime import date, datetime

import httpx

from orchestrator.common.clock import new_york_date, utc_now
from orchestrator.data.market import MarketData, OfflineMarketData, YahooMarketData
from orchestrator.data.news import NewsProvider, OfflineNews, YahooNews
from orchestrator.documents.run import (
    RunError,
    RunResult,
    SymbolFailure,
    SymbolSignal,
)
from orchestrator.forecast.breaker import BreakerBoard
from orchestrator.forecast.chain import ChainOutcome, ForecastChain
from orchestrator.forecast.targets import TargetClient
from orchestrator.jobs.assemble import build_signal, performance_metrics
from orchestrator.jobs.health import degraded_reasons
from orchestrator.jobs.stages import RunState, elapsed_ms
from orchestrator.jobs.timing import after_the_open, business_date_of, fresh_since, last_closed
from orchestrator.notify.alerts import (
    RUN_FAILED,
    SENTIMENT_DEGRADED,
    SERVICE_UNREACHABLE,
    STALE_DATA,
    SYMBOL_FAILED,
    Alert,
    AlertSender,
    alert_threshold,
    dashboard_link,
    digest_alert,
    dispatch,
    risk_alerts,
    signal_alerts,
    uncalibrated_alert,
)
from orchestrator.signals.risk import risk_forecasts
from orchestrator.storage.store import Store
from orchestrator.tracking.cost import run_cost
from premarket.settings import Settings


def _run_id(started: datetime) -> str:
    stamp = started.strftime("%Y_%m_%dT%H_%M_%S_") + f"{started.microsecond // 1000:03d}Z"
    return f"run_{stamp}_{secrets.token_hex(3)}"


async def _analyse(
    run: RunState,
    settings: Settings,
    http: httpx.AsyncClient,
    board: BreakerBoard,
    offline: bool,
    fresh: date,
) -> tuple[dict[str, SymbolSignal | SymbolFailure], dict[str, ChainOutcome]]:
    """Data, forecasts and sentiment for every symbol; a signal or a failure per symbol."""
    limit = asyncio.Semaphore(settings.chain.concurrency)
    deadline = settings.yahoo_timeout_s
    market: MarketData = (
        OfflineMarketData(settings.prices_csv, run.as_of)
        if offline
        else YahooMarketData(
            http, as_of=run.as_of, url_template=settings.yahoo_chart_url, timeout_s=deadline
        )
    )
    news: NewsProvider = (
        OfflineNews()
        if offline
        else YahooNews(http, url=settings.yahoo_rss_url, timeout_s=deadline)
    )
    t = time.perf_counter()
    await run.load_market(market, limit)
    run.latency["market_data_ms"] = elapsed_ms(t)
    t = time.perf_counter()
    risk = await asyncio.to_thread(risk_forecasts, run.risk_bars)
    run.latency["risk_ms"] = elapsed_ms(t)
    t = time.perf_counter()
    await run.load_news(news, offline, limit)
    run.latency["news_ms"] = elapsed_ms(t)
    t = time.perf_counter()
    chain = ForecastChain(settings, http, board)
    sentiment_client = TargetClient("sentiment", settings.sentiment, http)
    sentiments, outcomes = await asyncio.gather(
        run.score_news(sentiment_client, board), run.forecast_all(chain, limit)
    )
    run.latency["analysis_ms"] = elapsed_ms(t)
    signals: dict[str, SymbolSignal | SymbolFailure] = {}
    for symbol in run.symbols:
        if symbol in outcomes:
            signals[symbol] = build_signal(
                run.bars[symbol],
                outcomes[symbol],
                sentiments[symbol],
                settings,
                fresh,
                risk.get(symbol),
            )
        else:
            signals[symbol] = SymbolFailure(success=False, error=run.failed.get(symbol))
    return signals, outcomes


def _alerts(result: RunResult, run: RunState, settings: Settings) -> list[Alert]:
    alerts = signal_alerts(result.signals, alert_threshold(settings))
    alerts += risk_alerts(result.signals)  # each a HIGH_RISK alert, once per symbol and day
    alerts += [
        Alert(SERVICE_UNREACHABLE, name, SERVICE_UNREACHABLE, f"Service unreachable: {why}")
        for name, why in sorted(run.unreachable.items())
    ]
    if stale := result.stale:
        lines = ", ".join(f"{s} ({result.signals[s].data_as_of})" for s in stale)
        alerts.append(Alert(STALE_DATA, "*", STALE_DATA, f"Stale data, last bar: {lines}"))
    if uncalibrated := uncalibrated_alert(result.signals):
        alerts.append(uncalibrated)
    lexicon = sorted(  # a symbol held at the base rate already says why
        s
        for s, v in result.signals.items()
        if "lexicon" in v.sentiment.source and not v.uncalibrated_reason
    )
    if lexicon:
        why = f"News scored by the lexicon fallback, not the model: {', '.join(lexicon)}"
        alerts.append(Alert(SENTIMENT_DEGRADED, "sentiment", SENTIMENT_DEGRADED, why))
    if settings.alerts.digest and result.signals:
        alerts.append(digest_alert(result))
    if result.status == "failed":
        alerts.append(Alert(RUN_FAILED, "*", RUN_FAILED, _failure_message(result)))
    else:  # a partial run: each symbol left out says so once (a failed run alerts as a whole)
        alerts += [
            Alert(SYMBOL_FAILED, s, SYMBOL_FAILED, f"Not analysed: {why}")
            for s, why in sorted(run.failed.items())
        ]
    return alerts


async def run_analysis(
    settings: Settings,
    *,
    symbols: list[str] | None = None,
    as_of: date | None = None,
    offline: bool = False,
    slot: str | None = None,
    store: Store | None = None,
) -> RunResult:
    """Run the whole pre-market job once and return its result (also stored).

    ``as_of`` makes it a replay of that morning; offline without ``as_of`` replays the price
    file's last date. Never raises for a problem of the run itself: a run that could not analyse
    any symbol, or could not be stored, comes back with ``status`` "failed" and its errors; one
    with symbols left out or analysed on stale data comes back "partial".
    """
    started = utc_now()
    t0 = time.perf_counter()
    wanted = list(dict.fromkeys(s.strip().upper() for s in (symbols or settings.symbols)))
    run = RunState(settings, wanted, as_of)
    board = BreakerBoard(settings)
    own_store = store is None
    signals: dict[str, SymbolSignal | SymbolFailure] = {}
    outcomes: dict[str, ChainOutcome] = {}
    business_date = new_york_date(started)
    mode = "replay" if offline or as_of is not None else "live"
    status = "failed"
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as http:
        try:
            if offline and as_of is None:
                offline_market = OfflineMarketData(settings.prices_csv)  # parsing takes ~0.5 s
                as_of = run.as_of = await asyncio.to_thread(offline_market.last_date)
            business_date = await asyncio.to_thread(business_date_of, started, as_of)
            if as_of is None:  # live: completed sessions only, never a bar still trading
                run.through = await asyncio.to_thread(last_closed, started)
                if late := await asyncio.to_thread(after_the_open, started, business_date):
                    run.errors.append(RunError(symbol="*", stage="timing", error=late))
            fresh = await asyncio.to_thread(fresh_since, business_date)
            signals, outcomes = await _analyse(run, settings, http, board, offline, fresh)
            if as_of is None and run.bars:
                as_of = max(b.last_date for b in run.bars.values())
            complete = len(outcomes) == len(wanted) and not any(
                s.stale for s in signals.values() if isinstance(s, SymbolSignal)
            )
            status = "ok" if complete else "partial" if outcomes else "failed"
        except Exception as exc:  # a broken dependency or a bug: the run failed, and says why
            run.errors.append(RunError(symbol="*", stage="run", error=_describe(exc)))
            status = "failed"
        result = RunResult(
            run_id=_run_id(started),
            timestamp=started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            business_date=business_date,
            as_of=as_of,
            slot=slot,
            offline=offline,
            mode=mode,
            status=status,
            symbols_analyzed=wanted,
            trading_signals=signals,
            performance_metrics=performance_metrics(signals, outcomes, run.latency),
            errors=run.errors,
            alerts=[],
            breakers={},
        )
        alerts = _stamped(_alerts(result, run, settings), result, settings)
        sender = AlertSender(settings.alerts, http)
        try:
            store = store or await asyncio.to_thread(Store, settings.database_url)
        except Exception as exc:
            store = None
            result.errors.append(RunError(symbol="*", stage="store", error=_describe(exc)))
            result.status = "failed"
        result.degraded = degraded_reasons(result)
        result.breakers = board.states()
        try:
            await asyncio.to_thread(board.save)  # waits on other processes' lock: off the loop
        except OSError as exc:
            result.errors.append(RunError(symbol="*", stage="breakers", error=_describe(exc)))
        result.performance_metrics.latency_ms["total_ms"] = elapsed_ms(t0)
        result.cost = run_cost(result, settings, sentiment_compute_ms=run.sentiment_compute_ms)
        # Stored before any alert goes out: a channel that hangs (or a kill meanwhile) cannot
        # lose the run. The alert records are added to the stored document afterwards.
        saved = await _save(store, result)
        result.alerts = await dispatch(
            alerts, sender=sender, store=store, business_date=business_date
        )
        if not saved and not any(a.level == RUN_FAILED for a in alerts):  # e.g. no store at all
            failed = Alert(RUN_FAILED, "*", RUN_FAILED, _failure_message(result))
            result.alerts += await dispatch(
                _stamped([failed], result, settings),
                sender=sender,
                store=None,
                business_date=business_date,
            )
        result.errors += [  # a dead channel is news too: it shows in the errors and the summary
            RunError(symbol=a.symbol, stage="alerts", error=f"{a.level} not delivered: {why}")
            for a in result.alerts
            for why in (a.errors or {}).values()
        ]
        result.degraded = degraded_reasons(result)
        if store is not None:
            try:
                if saved:
                    await asyncio.to_thread(store.update_run, result)
                    await asyncio.to_thread(store.purge, settings.retention_days)
            except Exception as exc:
                result.errors.append(RunError(symbol="*", stage="store", error=_describe(exc)))
            finally:
                if own_store:
                    store.close()
    return result


async def _save(store: Store | None, result: RunResult) -> bool:
    """Store the run off the event loop; a failure marks it failed and says why."""
    if store is None:
        return False
    try:
        await asyncio.to_thread(store.save_run, result)
    except Exception as exc:
        result.errors.append(RunError(symbol="*", stage="store", error=_describe(exc)))
        result.status = "failed"
        return False
    return True


def _stamped(alerts: list[Alert], result: RunResult, settings: Settings) -> list[Alert]:
    """Every alert says which morning, which run, and where to look (the dashboard)."""
    for alert in alerts:
        alert.business_date, alert.run_id = str(result.business_date), result.run_id
        alert.link = dashboard_link(settings)
    return alerts


def _describe(exc: BaseException) -> str:
    """One line; the type and message (no URLs of secrets are put into our exceptions)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _failure_message(result: RunResult) -> str:
    first = result.cause or "no symbol could be analysed"
    return f"Pre-market run {result.run_id} failed ({result.business_date}): {first}"
