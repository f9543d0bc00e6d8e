"""Real request bodies from the bundled data: the ``/describe`` samples and the warm-up inputs.

A warm-up on real rows exercises the same code path as a caller's first request, so a model that
loads but cannot forecast is never reported ready.
"""

from __future__ import annotations

import csv
from functools import lru_cache

from premarket.data import DEMO_AS_OF, HEADLINES_CSV, PRICES_CSV

ORIGINAL_CLIENT = "cloudflare-worker-1.0"


@lru_cache(maxsize=1)
def _price_table() -> dict[str, list[tuple[str, list[float]]]]:
    table: dict[str, list[tuple[str, list[float]]]] = {}
    with PRICES_CSV.open(newline="") as f:
        for row in csv.DictReader(f):
            values = [float(row[k]) for k in ("open", "high", "low", "close", "volume")]
            table.setdefault(row["symbol"], []).append((row["date"], values))
    return table


def price_rows(
    symbol: str = "AAPL", count: int = 30, as_of: str = DEMO_AS_OF
) -> tuple[list[list[float]], list[str]]:
    """The last ``count`` daily ``[open, high, low, close, volume]`` rows of ``symbol`` up to
    ``as_of`` (oldest first) and their ISO dates."""
    rows = [(d, v) for d, v in _price_table()[symbol] if d <= as_of][-count:]
    return [list(v) for _, v in rows], [d for d, _ in rows]


def forecast_body(symbol: str = "AAPL", count: int = 30, as_of: str = DEMO_AS_OF) -> dict:
    """The original callers' flat body (docs/ORIGIN.md section 1) over real rows."""
    rows, _ = price_rows(symbol, count, as_of)
    return {
        "symbol": symbol,
        "sequence_data": rows,
        "request_id": f"{symbol}_1725449400000",
        "timestamp": "2025-09-04T11:30:00.000Z",
        "client_version": ORIGINAL_CLIENT,
    }


@lru_cache(maxsize=1)
def headlines(count: int = 8) -> list[str]:
    """The first ``count`` bundled business headlines (real text, varied length)."""
    out: list[str] = []
    with HEADLINES_CSV.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["source"] != "guardian" and row["headline"].strip():
                out.append(row["headline"].strip())
            if len(out) == count:
                break
    return out
