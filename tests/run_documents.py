"""Run results for tests of the store, the API, paper trading and the client: complete, valid
``RunResult``s in the shape ``run_analysis`` produces, with only what a test varies exposed."""

from __future__ import annotations

from orchestrator.documents.run import RunResult


def signal(
    price: float,
    *,
    action: str = "BUY WEAK",
    confidence: float = 0.7,
    data_as_of: str = "2022-09-20",
    tier: str = "tft",
    predicted: float | None = None,
    quantiles: dict[str, float] | None = None,
) -> dict:
    """One analysed symbol's signal document."""
    predicted = round(price * 1.01, 4) if predicted is None else predicted
    direction = "UP" if predicted > price else "DOWN" if predicted < price else "FLAT"
    return {
        "success": True,
        "action": action,
        "signal_score": 0.3
        if action.startswith("BUY")
        else -0.3
        if action.startswith("SELL")
        else 0,
        "confidence": confidence,
        "reasoning": f"{direction} price prediction (TFT (Primary)) + NEUTRAL sentiment (no news)",
        "current_price": price,
        "data_as_of": data_as_of,
        "components": {
            "price_prediction": {
                "model_used": "TFT (Primary)",
                "tier": tier,
                "predicted_price": predicted,
                "price_change_percent": round(100 * (predicted / price - 1), 4),
                "direction": direction,
                "confidence": confidence,
                "signal_score": 0.4,
                "quantiles": quantiles,
                "forecast_path": [predicted, predicted, predicted, predicted, predicted],
                "horizon_days": 5,
                "model_version": "tft:test",
                "latency_ms": 5.0,
                "inference_time_ms": 3.0,
                "fallback_reason": None,
                "calls": [{"target": tier, "outcome": "ok", "latency_ms": 5.0, "tries": 1}],
            },
            "sentiment_analysis": {
                "sentiment": "NEUTRAL",
                "signal": 0.0,
                "confidence": 0.5,
                "recommendation": "HOLD",
                "source": "no_news",
                "article_count": 0,
                "articles": [],
            },
        },
    }


def make_run(
    run_id: str,
    business_date: str,
    timestamp: str,
    *,
    slot: str | None = "06:30",
    status: str = "ok",
    signals: dict[str, dict] | None = None,
    as_of: str | None = "2022-09-20",
) -> RunResult:
    """A stored-run-shaped result; ``signals`` maps a symbol to ``signal(...)`` or a failure
    ``{"success": False, "error": ...}`` (default: AAPL analysed, MSFT without data)."""
    if signals is None:
        signals = {
            "AAPL": signal(100.0, quantiles={"p10": 98.0, "p50": 101.0, "p90": 104.0}),
            "MSFT": {"success": False, "error": "no data"},
        }
    ok = [s for s in signals.values() if s["success"]]
    return RunResult.model_validate(
        {
            "run_id": run_id,
            "timestamp": timestamp,
            "business_date": business_date,
            "as_of": as_of,
            "slot": slot,
            "offline": False,
            "status": status,
            "symbols_analyzed": list(signals),
            "trading_signals": signals,
            "performance_metrics": {
                "success_rate": round(100.0 * len(ok) / len(signals), 1) if signals else 0.0,
                "avg_confidence": 0.7 if ok else 0.0,
                "signal_distribution": {"BUY": len(ok), "SELL": 0, "HOLD": 0},
                "total_symbols": len(signals),
                "successful_analyses": len(ok),
                "tier_counts": {"tft": len(ok), "nhits": 0, "ensemble": 0, "statistical": 0},
                "latency_ms": {"total_ms": 10.0},
            },
            "errors": [],
            "alerts": [],
            "breakers": {},
        }
    )
