"""Walk-forward backtest speed: the documented 2022-2023 run, and batching against per-day calls.

The backtest feeds each model tier many (symbol, day) windows per call. The baseline is the
obvious walk forward: one call per symbol and day, as a loop over the services' request path
would make. Both run here on the same windows of the bundled prices, with the stored models.
"""

from __future__ import annotations

import time
from datetime import date

from orchestrator.backtest import BacktestConfig, load_prices, run_backtest
from orchestrator.backtest.engine import build_windows
from orchestrator.backtest.tiers import MODEL_TIERS, load_tiers
from premarket.data import PRICES_CSV

PERIOD = (date(2022, 1, 1), date(2023, 12, 31))
SAMPLE = (date(2023, 1, 1), date(2023, 3, 31))
"""Windows for the batched-vs-single comparison (10 symbols x about 60 days)."""
SINGLE_CALLS = 20
"""Single calls timed for the baseline (enough for a stable mean, short on 2 cores)."""


NAMES = {"tft": "TFT", "nhits": "N-HITS"}
TARGETS = {"tft": ">= 5x", "nhits": None}
"""The numpy N-HITS already answers one window in well under a millisecond: no target."""


def _per_forecast_ms(tier, windows) -> tuple[float, float]:
    """Mean ms per forecast: all windows in the tier's batches, then one window per call."""
    tier.forecast(windows[:2])  # warm-up (first-call allocations, lazy imports)
    began = time.perf_counter()
    for first in range(0, len(windows), tier.batch_size):
        tier.forecast(windows[first : first + tier.batch_size])
    batched = (time.perf_counter() - began) * 1000 / len(windows)
    single = windows[:SINGLE_CALLS]
    began = time.perf_counter()
    for window in single:
        tier.forecast([window])
    return batched, (time.perf_counter() - began) * 1000 / len(single)


def run() -> dict:
    histories = load_prices(PRICES_CSV)
    tiers, skipped = load_tiers(MODEL_TIERS, history=90)
    entries: dict[str, dict] = {}
    config = BacktestConfig(prices=PRICES_CSV, start=PERIOD[0], end=PERIOD[1])
    began = time.perf_counter()
    report = run_backtest(config, progress=False, tiers=tiers, histories=histories)
    entries["backtest 2022-2023, 10 symbols, all tiers"] = {
        "ours": time.perf_counter() - began,
        "baseline": None,
        "unit": "s",
        "target": "< 300",
        "forecasts_per_tier": report.summary["forecasts_per_tier"],
        "seconds_per_tier": {k: t["seconds"] for k, t in report.summary["tiers"].items()},
        "skipped": skipped,
    }
    need = max(t.min_rows for t in tiers)
    windows = build_windows(histories, *SAMPLE, need)[0]
    for tier in tiers:
        if tier.key not in ("tft", "nhits"):
            continue
        batched, single = _per_forecast_ms(tier, windows)
        entries[f"{NAMES[tier.key]} forecasts, batched vs one call per symbol-day"] = {
            "ours": batched,
            "baseline": single,
            "unit": "ms per forecast",
            "target": TARGETS[tier.key],
            "windows": len(windows),
        }
    return entries
