"""What a signal predicts, defined once: the direction of its session, open to close.

A pre-market signal for business date ``D`` is made before ``D``'s open from data up to the
close of the session before it. Whoever acts on it can fill at ``D``'s open at the earliest, so
the overnight gap (the previous close to ``D``'s open) is neither known when the signal is made
nor tradable on it. The target is therefore the move a trader can take: ``D``'s close against
``D``'s open. A session "moves up" when its close is strictly above its open; a flat session
counts as not up, so a SELL is right on it (there was nothing to gain by buying).

The backtest, the decision model's fit (``models/decision``), paper trading (fills at the
business date's open) and accuracy tracking all score against this one definition.
"""

from __future__ import annotations

import numpy as np

NAME = "open_to_close"
DESCRIPTION = "the business date's session moves up: its close is above its open"


def session_return(open_: np.ndarray | float, close: np.ndarray | float) -> np.ndarray:
    """The simple return from the session's open to its close."""
    return np.asarray(close, dtype=float) / np.asarray(open_, dtype=float) - 1.0


def moved_up(open_: np.ndarray | float, close: np.ndarray | float) -> np.ndarray:
    """1.0 where the session closed above its open, else 0.0 (the event a probability is of)."""
    return (np.asarray(close, dtype=float) > np.asarray(open_, dtype=float)).astype(float)


def direction_right(up: np.ndarray | bool, outcome_up: np.ndarray | float) -> np.ndarray:
    """1.0 where a call (``up``: True for UP, False for DOWN) matched the session, else 0.0."""
    return (np.asarray(up, dtype=bool) == (np.asarray(outcome_up) > 0.5)).astype(float)
