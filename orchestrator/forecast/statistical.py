"""The last tier of the fallback chain: a deterministic forecast computed locally.

A random walk with drift on log prices: the drift and volatility are the mean and standard
deviation of the recent daily log returns. Its confidence is the model's own probability that
the sign of the next return matches the drift, ``Φ(|μ| / σ)``, which stays close to 0.5 for
stocks, as an honest coin-flip-plus-edge should. No randomness: the same closes always give the
same forecast.

The p10-p90 band uses the 10% and 90% quantiles of daily returns standardised by the trailing
60-day drift and volatility, measured on the bundled 2015-2021 data (the price models' fitting
period), not the normal's ±1.28: daily returns have fat tails, so a normal band covered 85% of
the 2022-09-21..2023-12 test closes instead of 80%; these quantiles cover 81.9%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

from premarket.protocol import PriceForecast

MODEL_VERSION = "drift-vol-2"
MIN_CLOSES = 3
"""Two log returns are the fewest that give a volatility."""
STANDARDISED_QUANTILES = {"p10": -1.1937, "p50": 0.0, "p90": 1.1692}
"""Quantiles of (return - drift) / volatility, bundled data 2015-2021 (see the docstring)."""


def statistical_forecast(
    closes: Sequence[float], *, horizon: int = 5, lookback: int = 60
) -> PriceForecast:
    """Forecast the next ``horizon`` closes from the last ``lookback`` daily log returns."""
    if len(closes) < MIN_CLOSES:
        raise ValueError(f"closes: {len(closes)} given, at least {MIN_CLOSES} needed")
    if any(not math.isfinite(c) or c <= 0 for c in closes):
        raise ValueError("closes: must be positive finite prices")
    recent = list(closes[-(lookback + 1) :])
    returns = [math.log(b / a) for a, b in zip(recent, recent[1:], strict=False)]
    mu = sum(returns) / len(returns)
    sigma = math.sqrt(sum((r - mu) ** 2 for r in returns) / (len(returns) - 1)) or 1e-12
    last = recent[-1]
    return PriceForecast(
        current_price=last,
        forecast_path=[last * math.exp(mu * k) for k in range(1, horizon + 1)],
        quantiles={
            name: last * math.exp(mu + sigma * z) for name, z in STANDARDISED_QUANTILES.items()
        },
        confidence=NormalDist().cdf(abs(mu) / sigma),
        model_version=MODEL_VERSION,
    )
