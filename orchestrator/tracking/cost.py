"""What a run cost: the model services' compute seconds times the host's price per hour.

The seeds set a goal of under $0.15 per prediction. The figures come from the services' own
timings: a forecast answer's ``inference_time_ms`` (``tft``, ``nhits``; the in-process
``statistical`` tier times itself too) and, for sentiment, the model time the service reports
with its answers (``X-Inference-Time-Ms``, the envelope's ``InferenceTimeMs``); only a service
that reports none is charged the run's request latency, an upper bound. The services
batch concurrent requests, and each request's timing includes the wait for its batch, so a
service's sum is capped at the wall time of the stage it ran in: the host cannot have been busy
longer than that. A hosted (ModelScope) target is billed per answered call instead, at
``cost.call_usd[name]`` (required for such a target).

Two figures per prediction, side by side. *Marginal*: the run's total over its analysed symbols,
what one more run costs on a host that is up anyway. *Amortised*: what the host costs a day
(``cost.service_hours_per_day`` hours at the hourly price, when any local service is used)
divided by the day's predictions (this run's times ``cost.runs_per_day``, by default the
schedule's slots), plus the hosted calls per prediction. A $0.10/h host up all day is $2.40,
whatever the runs use of it, so only the amortised figure is compared with the seeds' goal.
"""

from __future__ import annotations

from collections import defaultdict

from orchestrator.documents.run import Cost, RunResult, ServiceCost
from premarket.settings import Settings

ANSWERED = {"tft": ("tft",), "nhits": ("nhits",), "ensemble": ("tft", "nhits")}
SERVED = ("tft", "nhits", "sentiment")


def _compute_and_calls(
    result: RunResult, sentiment_compute_ms: float
) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds and answered calls per service, before the cap."""
    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for signal in result.signals.values():
        price = signal.price
        for name in ANSWERED.get(price.tier, (price.tier,)):
            seconds[name] += price.inference_time_ms / 1000.0
            calls[name] += 1
    scored = any(
        s.sentiment.source not in ("no_news", "unavailable") for s in result.signals.values()
    )
    if scored:
        reported = sentiment_compute_ms or result.performance_metrics.latency_ms.get("sentiment_ms")
        seconds["sentiment"] += (reported or 0.0) / 1000.0
        calls["sentiment"] += 1
    return seconds, calls


def run_cost(result: RunResult, settings: Settings, sentiment_compute_ms: float = 0.0) -> Cost:
    """The cost of ``result`` at the prices of ``settings.cost``; ``sentiment_compute_ms`` is
    the model time the sentiment service reported (0: none reported)."""
    prices = settings.cost
    hour_usd = prices.gpu_hour_usd if prices.device == "gpu" else prices.cpu_hour_usd
    stage_s = (result.performance_metrics.latency_ms.get("analysis_ms") or 0.0) / 1000.0
    seconds, calls = _compute_and_calls(result, sentiment_compute_ms)
    services: dict[str, ServiceCost] = {}
    for name in sorted(seconds):
        compute_s = round(min(seconds[name], stage_s) if stage_s else seconds[name], 4)
        hosted = name in SERVED and getattr(settings, name).dialect == "modelscope"
        if hosted:
            usd = calls[name] * prices.call_usd.get(name, 0.0)
        else:  # the statistical tier runs in the orchestrator, on a CPU
            hour = hour_usd if name in SERVED else prices.cpu_hour_usd
            usd = compute_s * hour / 3600.0
        services[name] = ServiceCost(
            compute_s=compute_s, calls=calls[name], hosted=hosted, usd=round(usd, 8)
        )
    total = round(sum(s.usd for s in services.values()), 8)
    predictions = len(result.signals)
    local = [n for n in SERVED if getattr(settings, n).dialect != "modelscope"]
    host_day = prices.service_hours_per_day * hour_usd if local else 0.0
    runs = prices.runs_per_day or len(settings.schedule.slots)
    hosted_usd = sum(s.usd for s in services.values() if s.hosted)
    amortised = host_day / (predictions * runs) + hosted_usd / predictions if predictions else None
    return Cost(
        device=prices.device,
        hour_usd=hour_usd,
        services=services,
        total_usd=total,
        predictions=predictions,
        per_prediction_usd=round(total / predictions, 10) if predictions else None,
        host_day_usd=round(host_day, 6),
        runs_per_day=runs,
        amortised_per_prediction_usd=None if amortised is None else round(amortised, 10),
    )
