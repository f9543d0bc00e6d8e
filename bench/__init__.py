"""Benchmarks: ``python -m bench`` (``make bench``) runs every ``bench/bench_*.py``.

A benchmark module exposes ``run() -> dict`` returning entries by name::

    {"single window p50": {"ours": 0.4, "baseline": 12.0, "ratio": 30.0, "unit": "ms",
                           "target": "ours < 1 and ratio >= 20"}}

``ours`` is our figure and ``baseline`` the library's, measured in the same run (``None`` when
an entry has no baseline). ``ratio`` defaults to ``baseline / ours``. ``target`` is read by the
driver: clauses joined by ``and``, each ``[subject] <op> number [unit]`` with ``<``, ``<=``,
``>``, ``>=``, ``==``, ``under`` or ``at least``. The subject ``ratio`` (or a trailing ``x``,
as in ``>= 20x``) compares the ratio, ``baseline`` the baseline, anything else (``ours``,
``p50``) our figure; a bare ``0 errors`` means ours equals 0; ``-`` means no target. A module
may instead set ``"met": true/false`` itself. Extra keys are kept as they are.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def p50_ms(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``call`` in ms over ``repeats`` runs, after one untimed warm-up.

    The warm-up pays for lazy imports and first allocations, which no later call sees.
    """
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank: always an observed latency."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def entry(ours: float, baseline: float | None, *, unit: str, target: str = "-") -> dict:
    """One result entry (see the module docstring), rounded for the report."""
    return {
        "ours": round(ours, 3),
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": round(baseline / ours, 4) if baseline is not None and ours else None,
        "unit": unit,
        "target": target,
    }
