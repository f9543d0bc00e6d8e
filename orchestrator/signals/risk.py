"""Today's expected move per symbol: the risk model (:mod:`premarket.risk`) on the run's bars.

The run's symbols are the universe whose mean range variance is the market feature, so a
symbol's forecast depends on the others of the run as it did in the backtest. Each forecast uses
the symbol's bars up to its last close only: the risk of the business date's session.
"""

from __future__ import annotations

import math
from functools import lru_cache

from orchestrator.data.market import Bars
from orchestrator.documents.run import RiskForecast
from premarket.risk.features import MIN_BARS, SymbolBars
from premarket.risk.har import HAR_MONTH
from premarket.risk.model import HAR_WINDOW, NORMAL_WINDOW, RiskModel, forecast_universe

HISTORY_BARS = HAR_WINDOW + HAR_MONTH + NORMAL_WINDOW
"""Bars a run fetches per symbol for the risk model: its own HAR's full window at each of the
origins whose forecasts make the symbol's normal; the model services still get only
``chain.history_days`` of them."""


@lru_cache(maxsize=1)
def bundled_model() -> RiskModel:
    """The risk model shipped with the package (``python -m models.risk.train``)."""
    return RiskModel.load()


def _optional(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def risk_forecasts(
    bars: dict[str, Bars], model: RiskModel | None = None
) -> dict[str, RiskForecast]:
    """The next session's risk for every symbol with at least ``MIN_BARS`` bars."""
    model = model or bundled_model()
    universe = [
        SymbolBars.from_arrays(s, b.dates, b.open, b.high, b.low, b.close, b.volume)
        for s, b in bars.items()
        if len(b) >= MIN_BARS
    ]
    found: dict[str, RiskForecast] = {}
    for symbol, series in forecast_universe(model, universe, recent=1).items():
        sigma = float(series.sigma_oc[-1])
        if not math.isfinite(sigma):
            continue
        ratio = _optional(series.ratio[-1])
        found[symbol] = RiskForecast(
            sigma_oc=round(sigma, 6),
            expected_move_pct=round(100 * sigma, 3),
            range_hl=round(float(series.range_hl[-1]), 6),
            p10=round(float(series.p10[-1]), 6),
            p90=round(float(series.p90[-1]), 6),
            normal_sigma_oc=_optional(series.normal[-1]),
            ratio=ratio,
            high_risk=ratio is not None and ratio >= model.high_risk_ratio,
            own_har=bool(series.own_har[-1]),
            model_version=model.version,
        )
    return found
