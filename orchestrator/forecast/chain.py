"""The forecast fallback chain: TFT -> N-HITS -> a statistical forecast computed here.

Each model call has its own timeout (on the whole call, not per read) and retries transient
errors with backoff. The symbol's deadline is shared out: each model tier gets an equal share of
what is left, all its tries included, so a hung TFT leaves N-HITS its time; in ensemble mode both
run side by side with the whole deadline each, and a hung one never costs the other's answer. A
tier out of time counts against its circuit breaker, like any other failure of the service.
Answers are checked for sense (``orchestrator.forecast.answers``) before they are used. Whatever answers, the outcome says
which tier it was, how long it took, and why the tiers before it were skipped, so a primary that
always falls back (the original's silent failure) shows in every result. With ``ensemble`` on,
TFT and N-HITS are asked together and blended when both answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx

from orchestrator.common.retry import CallError, with_retries
from orchestrator.data.market import Bars
from orchestrator.documents.run import CallRecord
from orchestrator.forecast.breaker import BreakerBoard
from orchestrator.forecast.statistical import statistical_forecast
from orchestrator.forecast.targets import TargetClient
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
    calls: list[CallRecord] = field(default_factory=list)


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
        calls: list[CallRecord] = []
        answered: dict[str, ForecastResult] = {}
        deadline = self.chain.symbol_deadline_s
        if self.chain.ensemble:  # side by side: each has the whole deadline, and keeps its answer
            pairs = await asyncio.gather(
                *(self._try(n, bars, reasons, calls, deadline) for n in MODEL_TIERS)
            )
            answered = {n: r for n, r in zip(MODEL_TIERS, pairs, strict=True) if r}
        else:
            for i, name in enumerate(MODEL_TIERS):
                # An equal share of what is left, so a hung tier leaves the next one its time.
                left = deadline - (time.perf_counter() - start)
                budget = left / (len(MODEL_TIERS) - i)
                if result := await self._try(name, bars, reasons, calls, budget):
                    answered[name] = result
                    break
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
        self, name: str, bars: Bars, reasons: list[str], calls: list[CallRecord], budget_s: float
    ) -> ForecastResult | None:
        """One tier within ``budget_s`` (all its tries): its answer, or None with the reason.

        A tier that runs out of its budget failed like one that refused connections: it counts
        against its breaker, so a hung service is skipped by later symbols and runs.
        """
        breaker = self.board[name]
        t0 = time.perf_counter()
        try:  # another symbol's probe is out: its verdict decides for this one (a probe that
            async with asyncio.timeout(budget_s):  # ended without one lets the next waiter probe)
                while breaker.probing:
                    await breaker.settled()
        except TimeoutError:
            reasons.append(
                f"{name}: a probe of the service gave no verdict within {budget_s:.3g} s"
            )
            calls.append(CallRecord(target=name, outcome="skipped (probe pending)"))
            return None
        budget_s = max(budget_s - (time.perf_counter() - t0), 0.001)
        if not breaker.allow():
            reasons.append(
                f"{name}: circuit open after {breaker.failures} failures "
                f"(last: {breaker.last_error})"
            )
            calls.append(CallRecord(target=name, outcome="skipped (circuit open)"))
            return None
        t0 = time.perf_counter()
        record = CallRecord(target=name, outcome="pending")
        calls.append(record)
        client = self.clients[name]
        ends = t0 + budget_s

        def attempt() -> Awaitable[ForecastResult]:
            left = max(ends - time.perf_counter(), 0.001)
            return client.forecast(bars, min(client.target.timeout_s, left))

        try:
            async with asyncio.timeout(budget_s):  # also bounds the backoff between tries
                result, tries = await with_retries(
                    attempt, tries=self.chain.retries + 1, backoff_s=self.chain.backoff_s
                )
        except TimeoutError:
            error = f"{name}: no answer within its {budget_s:.3g} s share of the symbol deadline"
            record.outcome, record.error = "unreachable", error
            breaker.record_failure(error)
            reasons.append(f"unreachable: {error}")
            return None
        except CallError as exc:
            record.outcome, record.error = exc.kind, str(exc)
            if exc.service_fault:
                breaker.record_failure(str(exc))
            else:
                breaker.release()
            reasons.append(f"{exc.kind}: {exc}")
            return None
        except asyncio.CancelledError:  # the run was stopped: the service had not answered
            record.outcome = "cancelled"
            breaker.record_failure(f"{name}: cancelled before it answered")
            raise
        finally:
            record.latency_ms = round((time.perf_counter() - t0) * 1000, 3)
        breaker.record_success()
        record.outcome, record.tries = "ok", tries
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
