"""What a plausible request row is: the rules ``ForecastInput`` applies to ``sequence_data`` and
``dates``, each refusal naming the row.

A forecaster fed one close of 1e300 among closes of 157 answered a price of 1e9 with a p90 of
8.9e61: valid numbers, absurd input; dates up to 9999-12-31 crashed a batch. Rows and dates
outside these bounds are refused before any model sees them.
"""

from __future__ import annotations

import math
from datetime import date

MIN_PRICE = 1e-6
"""Cheapest accepted price (crypto pairs trade near 1e-5; 1e-300 is an error, not a price)."""
MAX_PRICE = 1e7
"""Dearest accepted price (the dearest share, BRK-A, is under 1e6)."""
MAX_VOLUME = 1e14
"""Largest accepted daily volume (the busiest tickers trade about 1e9 shares a day)."""
MAX_JUMP = 20.0
"""Largest accepted ratio between any two prices of a row, or between a row's prices and the
previous close: a 20-fold move in one day is beyond any split-adjusted daily series."""
FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2200, 12, 31)
"""Dates the models' calendars can hold (pandas timestamps end in 2262; 9999-12-31 crashed)."""


def check_rows(rows: list[list[float]]) -> None:
    """Raise ``ValueError`` naming the first implausible ``[open, high, low, close, volume]``."""
    previous_close = None
    for i, (o, h, low, c, v) in enumerate(rows):
        if not all(math.isfinite(x) for x in (o, h, low, c, v)):
            raise ValueError(f"row {i}: values must be finite numbers (no NaN or infinity)")
        if min(o, h, low, c) <= 0:
            raise ValueError(f"row {i}: prices must be positive")
        if not MIN_PRICE <= min(o, h, low, c) <= max(o, h, low, c) <= MAX_PRICE:
            raise ValueError(f"row {i}: prices must be between {MIN_PRICE:g} and {MAX_PRICE:g}")
        if not 0 <= v <= MAX_VOLUME:
            raise ValueError(f"row {i}: volume must be between 0 and {MAX_VOLUME:g}")
        if h < low:
            raise ValueError(f"row {i}: high {h} is below low {low}")
        lowest, highest = min(o, low, c, previous_close or c), max(o, h, c, previous_close or c)
        if highest > MAX_JUMP * lowest:
            raise ValueError(
                f"row {i}: prices from {lowest:g} to {highest:g} (with the previous close) "
                f"move more than {MAX_JUMP:g}-fold in a day"
            )
        previous_close = c


def check_dates(dates: list[date]) -> None:
    """Raise ``ValueError`` naming the first date outside ``FIRST_DATE..LAST_DATE``."""
    for i, day in enumerate(dates):
        if not FIRST_DATE <= day <= LAST_DATE:
            raise ValueError(f"entry {i}: {day} is outside {FIRST_DATE}..{LAST_DATE}")
