"""The pre-market run against the three local services (real ``bentoml serve`` processes).

- 10 symbols (the bundled ones, offline, as of the demo date): our run, which analyses symbols
  concurrently and sends all headlines in one batch, against the same job one symbol at a time
  (``chain.concurrency = 1``), the original worker's sequential pattern. Target: under 2 s.
- 500 symbols: the 10 bundled histories under 50 names each. Target: under 60 s.

Times are wall-clock seconds after the services are up and warmed by one small run (the
10-symbol figures are the best of three runs each). A run in
which any symbol fell back from the TFT is reported as an error: it would time the wrong path.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
import time
from datetime import date
from pathlib import Path

from orchestrator.jobs.analysis import run_analysis
from orchestrator.signals.risk import HISTORY_BARS
from premarket.data import DEMO_AS_OF, PRICES_CSV, SYMBOLS
from premarket.settings import Settings
from serving.launch import ServiceGroup, free_port

ALIASES = 50
HISTORY_ROWS = HISTORY_BARS
"""What a live run fetches per symbol (the risk model's history)."""
REPEATS = 3
"""The 10-symbol runs take the best of three: on shared cores the others measure the neighbours."""


def alias_csv(path: Path, as_of: date) -> list[str]:
    """The bundled histories up to ``as_of`` under ``ALIASES`` names each; the names."""
    rows: dict[str, list[dict]] = {}
    with open(PRICES_CSV, newline="") as handle:
        for row in csv.DictReader(handle):
            if date.fromisoformat(row["date"]) <= as_of:
                rows.setdefault(row["symbol"], []).append(row)
    names = []
    with open(path, "w", newline="") as handle:
        fields = ["symbol", "date", "open", "high", "low", "close", "volume"]
        writer = csv.DictWriter(handle, fields, extrasaction="ignore")
        writer.writeheader()
        for symbol in SYMBOLS:
            for k in range(ALIASES):
                name = symbol if k == 0 else f"{symbol}-{k:02d}"
                names.append(name)
                writer.writerows({**r, "symbol": name} for r in rows[symbol][-HISTORY_ROWS:])
    return names


RISK_MS: list[float] = []
"""The risk model's share of each timed run (its ``risk_ms`` latency)."""


def timed(settings: Settings, symbols: list[str], as_of: date) -> float:
    start = time.perf_counter()
    result = asyncio.run(run_analysis(settings, symbols=symbols, as_of=as_of, offline=True))
    seconds = time.perf_counter() - start
    tiers = result.performance_metrics.tier_counts
    RISK_MS.append(result.performance_metrics.latency_ms["risk_ms"])
    if result.status != "ok" or tiers["tft"] != len(symbols):
        raise RuntimeError(f"run of {len(symbols)} symbols: status {result.status}, tiers {tiers}")
    return seconds


def run() -> dict:
    as_of = date.fromisoformat(DEMO_AS_OF)
    with tempfile.TemporaryDirectory(prefix="bench-orchestrator-") as tmp:
        work = Path(tmp)
        ports = {name: free_port() for name in ("tft", "nhits", "sentiment")}
        with ServiceGroup(ports, log_dir=work) as group:
            base = {
                **{name: {"url": url, "timeout_s": 30.0} for name, url in group.urls.items()},
                "database_url": f"sqlite:///{work / 'bench.db'}",
                "state_dir": work / "state",
            }
            ours = Settings(**base)
            sequential = Settings(**base, chain={"concurrency": 1})
            timed(ours, list(SYMBOLS[:2]), as_of)  # warm-up: connections, first batches
            ten_ours = min(timed(ours, list(SYMBOLS), as_of) for _ in range(REPEATS))
            ten_sequential = min(timed(sequential, list(SYMBOLS), as_of) for _ in range(REPEATS))
            names = alias_csv(work / "aliases.csv", as_of)
            many = Settings(**base, prices_csv=work / "aliases.csv")
            five_hundred = timed(many, names, as_of)
    return {
        "orchestrator_run_10_symbols": {
            "ours": round(ten_ours, 3),
            "baseline": round(ten_sequential, 3),
            "ratio": round(ten_sequential / ten_ours, 2),
            "unit": "s",
            "target": "ours < 2",
            "baseline_is": "the same job, one symbol at a time",
        },
        "orchestrator_run_500_symbols": {
            "ours": round(five_hundred, 3),
            "baseline": None,
            "unit": "s",
            "target": "ours < 60",
            "symbols": len(names),
            "risk_forecast_s": round(RISK_MS[-1] / 1000, 3),
            "risk_share": round(RISK_MS[-1] / 1000 / five_hundred, 4),
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
