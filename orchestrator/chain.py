"""The forecast fallback chain: TFT -> N-HITS -> a statistical forecast computed here.

Each model call has its own timeout and retries transient errors with backoff; the whole chain
has a deadline per symbol; each target has a circuit breaker. Whatever answers, the outcome says
which tier it was, how long it took, and why the tiers before it were skipped, so a primary that
always falls back (the original's silent failure) shows in every result. With ``ensemble`` on,
TFT and N-HITS are asked together and blended when both answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from orchestrator.breaker import BreakerBoard
from orchestrator.market import Bars
from orchestrator.retry import CallError, with_retries
from orchestrator.statistical import statistical_forecast
from orchestrator.targets import TargetClient
from premarket.protocol import ForecastResult, PriceForecast
from premarket.settings import Settings

STATISTICAL = "Statistical (Fallback)"
ENSEMBLE = "Ensemble (TFT+N-HITS)"
MODEL_TIERS = ("tft", "nhits")


@dataclass
class ChainOutcome:
    """One symbol's forecast and how it was obtained."""

    result: ForecastResult
    tier: str  # tft, nhits, ensemble or statistical
    latency_ms: float
    fallback_reason: str | None
    calls: list[dict] = field(default_factory=list)


class ForecastChain:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, board: BreakerBoard) -> None:
        self.settings = settings
        self.chain = settings.chain
        self.board = board
        self.clients = {
            name: TargetClient(name, getattr(settings, name), http) for name in MODEL_TIERS
        }

    async def forecast(self, bars: Bars) -> ChainOutcome:
        start = time.perf_counter()
        reasons: list[str] = []
        calls: list[dict] = []
        answered: dict[str, ForecastResult] = {}
        try:
            async with asyncio.timeout(self.chain.symbol_deadline_s):
                if self.chain.ensemble:
                    pairs = await asyncio.gather(
                        *(self._try(n, bars, reasons, calls) for n in MODEL_TIERS)
                    )
                    answered = {n: r for n, r in zip(MODEL_TIERS, pairs, strict=True) if r}
                else:
                    for name in MODEL_TIERS:
                        if result := await self._try(name, bars, reasons, calls):
                            answered[name] = result
                            break
        except TimeoutError:
            reasons.append(f"symbol deadline of {self.chain.symbol_deadline_s:g} s passed")
        elapsed = lambda: round((time.perf_counter() - start) * 1000, 3)  # noqa: E731
        reason = "; ".join(reasons) or None
        if len(answered) == 2:
            return ChainOutcome(self._blend(bars, answered), "ensemble", elapsed(), reason, calls)
        for name, result in answered.items():
            return ChainOutcome(result, name, elapsed(), reason, calls)
        t0 = time.perf_counter()
        local = statistical_forecast(bars.close, horizon=5)
        result = ForecastResult.build(
            local,
            symbol=bars.symbol,
            model_used=STATISTICAL,
            inference_time_ms=(time.perf_counter() - t0) * 1000,
        )
        return ChainOutcome(result, "statistical", elapsed(), reason, calls)

    async def _try(
        self, name: str, bars: Bars, reasons: list[str], calls: list[dict]
    ) -> ForecastResult | None:
        """One tier: its answer, or None with the reason it was skipped appended."""
        breaker = self.board[name]
        if not breaker.allow():
            reasons.append(
                f"{name}: circuit open after {breaker.failures} failures "
                f"(last: {breaker.last_error})"
            )
            calls.append({"target": name, "outcome": "skipped (circuit open)"})
            return None
        t0 = time.perf_counter()
        record = {"target": name}
        calls.append(record)
        try:
            result, tries = await with_retries(
                lambda: self.clients[name].forecast(bars),
                tries=self.chain.retries + 1,
                backoff_s=self.chain.backoff_s,
            )
        except CallError as exc:
            record.update(outcome=exc.kind, error=str(exc))
            if exc.service_fault:
                breaker.record_failure(str(exc))
            else:
                breaker.release()
            reasons.append(str(exc))
            return None
        except asyncio.CancelledError:  # the symbol's deadline: no verdict on the service
            record.update(outcome="cancelled (deadline)")
            breaker.release()
            raise
        finally:
            record["latency_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        breaker.record_success()
        record.update(outcome="ok", tries=tries)
        return result

    def _blend(self, bars: Bars, answered: dict[str, ForecastResult]) -> ForecastResult:
        """The original's 0.55/0.45 blend of TFT and N-HITS (weights are a setting)."""
        w_tft, w_nhits = self.chain.ensemble_weights
        total = w_tft + w_nhits
        a, b = answered["tft"], answered["nhits"]
        mix = lambda x, y: (w_tft * x + w_nhits * y) / total  # noqa: E731
        horizon = min(len(a.forecast_path), len(b.forecast_path))
        quantiles = None
        if a.quantiles and b.quantiles:
            quantiles = {
                k: mix(a.quantiles[k], b.quantiles[k]) for k in a.quantiles if k in b.quantiles
            }
        path = [
            mix(x, y)
            for x, y in zip(a.forecast_path[:horizon], b.forecast_path[:horizon], strict=True)
        ]
        # Blend each model's probability of an up move, then read it for the blended direction,
        # so two models that disagree give a confidence near 0.5, not the mean of their certainty.
        # The blended path can point against the blended probability (a large UP move from the
        # less sure model): the confidence then floors at 0.5, no edge, never "likely wrong".
        p_up = mix(_p_up(a), _p_up(b))
        current = bars.close[-1]
        p_right = p_up if path[0] > current else 1.0 - p_up if path[0] < current else 0.5
        forecast = PriceForecast(
            current_price=current,
            forecast_path=path,
            quantiles=quantiles or None,
            confidence=max(0.5, p_right),
            model_version=f"{a.model_version}+{b.model_version}",
        )
        return ForecastResult.build(
            forecast,
            symbol=bars.symbol,
            model_used=ENSEMBLE,
            inference_time_ms=max(a.inference_time_ms, b.inference_time_ms),
        )


def _p_up(result: ForecastResult) -> float:
    if result.direction == "FLAT":
        return 0.5
    return result.confidence if result.direction == "UP" else 1.0 - result.confidence
