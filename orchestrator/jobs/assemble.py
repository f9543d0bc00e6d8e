"""The parts of a run result made from one run's forecasts and sentiment: each symbol's signal
and the run's performance figures."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date

from orchestrator.data.market import Bars
from orchestrator.documents.run import (
    Components,
    PerformanceMetrics,
    PricePrediction,
    RiskForecast,
    SentimentAnalysis,
    SymbolFailure,
    SymbolSignal,
)
from orchestrator.forecast.chain import ChainOutcome
from orchestrator.signals.combine import combine
from premarket.settings import Settings

TIERS = ("tft", "nhits", "ensemble", "statistical")


def build_signal(
    bars: Bars,
    outcome: ChainOutcome,
    sentiment: SentimentAnalysis,
    settings: Settings,
    fresh_since: date,
    risk: RiskForecast | None = None,
) -> SymbolSignal:
    f = outcome.result
    decision = combine(f, sentiment, settings.signal, outcome.tier)
    fields = decision.model_dump()
    if fields["uncalibrated_reason"] is None:  # in the document only when it applies
        del fields["uncalibrated_reason"]
    return SymbolSignal(
        success=True,
        **fields,
        current_price=round(bars.close[-1], 4),
        data_as_of=bars.last_date,
        stale=bars.last_date < fresh_since,
        **({"risk": risk} if risk is not None else {}),
        components=Components(
            price_prediction=PricePrediction(
                model_used=f.model_used,
                tier=outcome.tier,
                predicted_price=f.predicted_price,
                price_change_percent=f.price_change_percent,
                direction=f.direction,
                confidence=f.confidence,
                signal_score=f.signal_score,
                quantiles=f.quantiles,
                forecast_path=f.forecast_path,
                horizon_days=f.horizon_days,
                model_version=f.model_version,
                latency_ms=outcome.latency_ms,
                inference_time_ms=f.inference_time_ms,
                fallback_reason=outcome.fallback_reason,
                calls=outcome.calls,
            ),
            sentiment_analysis=sentiment,
        ),
    )


def performance_metrics(
    signals: dict[str, SymbolSignal | SymbolFailure],
    outcomes: dict[str, ChainOutcome],
    latency: dict[str, float | None],
) -> PerformanceMetrics:
    ok = [s for s in signals.values() if isinstance(s, SymbolSignal)]
    kinds = Counter(s.side for s in ok)
    forecast_ms = sorted(o.latency_ms for o in outcomes.values())
    tiers = Counter(o.tier for o in outcomes.values())
    return PerformanceMetrics(
        success_rate=round(100.0 * len(ok) / len(signals), 1) if signals else 0.0,
        avg_confidence=round(statistics.fmean(s.confidence for s in ok), 4) if ok else 0.0,
        signal_distribution={k: kinds.get(k, 0) for k in ("BUY", "SELL", "HOLD")},
        total_symbols=len(signals),
        successful_analyses=len(ok),
        tier_counts={t: tiers.get(t, 0) for t in TIERS},
        latency_ms={
            **latency,
            "forecast_p50": round(statistics.median(forecast_ms), 3) if forecast_ms else None,
            "forecast_max": forecast_ms[-1] if forecast_ms else None,
        },
    )
