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
