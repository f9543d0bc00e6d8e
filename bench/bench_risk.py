"""The risk forecast for 500 symbols: its share of a run, against the library baseline.

500 symbols (the 10 bundled histories under 50 names each, the last 1,024 bars before the demo
date, as a live run fetches them): ours is ``orchestrator.signals.risk.risk_forecasts``, the
whole universe's features, each symbol's own HAR and the panel model, in one call. The
baseline is the library way to get a one-day volatility forecast per symbol: ``arch``'s
GARCH(1,1)-t fitted and forecast on each symbol's open-to-close returns. Best of three each.
"""

from __future__ import annotations

import time
import warnings
from datetime import date

import numpy as np

from orchestrator.backtest.data import load_prices
from orchestrator.data.market import Bars
from orchestrator.signals.risk import HISTORY_BARS, risk_forecasts
from premarket.data import DEMO_AS_OF, PRICES_CSV

ALIASES = 50
REPEATS = 3


def universe() -> dict[str, Bars]:
    cut = np.datetime64(date.fromisoformat(DEMO_AS_OF), "D")
    bars = {}
    for symbol, history in load_prices(PRICES_CSV).items():
        keep = history.dates <= cut
        rows, dates = history.rows[keep][-HISTORY_BARS:], history.dates[keep][-HISTORY_BARS:]
        for k in range(ALIASES):
            name = symbol if k == 0 else f"{symbol}-{k:02d}"
            bars[name] = Bars(name, tuple(dates.tolist()), *(tuple(c) for c in rows.T))
    return bars


def garch_baseline(bars: dict[str, Bars]) -> None:
    from arch import arch_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in bars.values():
            returns = 100 * np.log(np.asarray(b.close) / np.asarray(b.open))
            fit = arch_model(returns, mean="Constant", vol="GARCH", dist="t").fit(disp="off")
            fit.forecast(horizon=1)


def best(function, *args) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - began)
    return min(times)


def run() -> dict:
    bars = universe()
    risk_forecasts(dict(list(bars.items())[:10]))  # warm-up: the model's JSON, first imports
    ours = best(risk_forecasts, bars)
    baseline = best(garch_baseline, bars)
    return {
        "risk_forecast_500_symbols": {
            "ours": round(ours, 3),
            "baseline": round(baseline, 3),
            "ratio": round(baseline / ours, 2),
            "unit": "s",
            "target": "ours < 2",
            "baseline_is": "arch GARCH(1,1)-t fitted per symbol",
            "symbols": len(bars),
            "bars_per_symbol": HISTORY_BARS,
        }
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
