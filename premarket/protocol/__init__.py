"""The wire protocol shared by the model services and the orchestrator.

Two dialects reach every forecast service (see docs/ORIGIN.md of the original system):

1. the original flat body at ``POST /predict``: ``{"symbol", "sequence_data", ...}`` answered by
   a flat object (``success``, ``model_used``, ``predicted_price``, ...);
2. the ModelScope envelope ``{"input": {...}, "parameters": {...}}`` at ``POST /call`` and
   ``POST /api/v1/models/{org}/{name}``, answered by ``{"Code", "Success", "Message",
   "RequestId", "Data"}``.

This package imports pydantic only, so the orchestrator can use it without torch or bentoml:
``common`` (limits, the ticker rule, directions, scores), ``forecast`` (forecast requests and
answers) and ``messages`` (the envelope, sentiment input and answers), all re-exported here.
"""

from __future__ import annotations

from premarket.protocol.common import (
    MAX_ROWS,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    MIN_ROWS,
    RECOMMENDATION_THRESHOLD,
    SYMBOL_PATTERN,
    Direction,
    ProtocolError,
    Recommendation,
    direction_of,
    is_ticker,
    recommendation_of,
    signal_score,
    utc_now_iso,
)
from premarket.protocol.forecast import (
    ForecastError,
    ForecastInput,
    ForecastParameters,
    ForecastResult,
    OHLCVRow,
    PriceForecast,
)
from premarket.protocol.messages import (
    ModelScopeRequest,
    ModelScopeResponse,
    SentimentInput,
    SentimentScores,
)

__all__ = [
    "Direction",
    "ForecastError",
    "ForecastInput",
    "ForecastParameters",
    "ForecastResult",
    "MAX_ROWS",
    "MAX_TEXTS",
    "MAX_TEXT_CHARS",
    "MIN_ROWS",
    "ModelScopeRequest",
    "ModelScopeResponse",
    "OHLCVRow",
    "PriceForecast",
    "ProtocolError",
    "RECOMMENDATION_THRESHOLD",
    "Recommendation",
    "SYMBOL_PATTERN",
    "SentimentInput",
    "SentimentScores",
    "direction_of",
    "is_ticker",
    "recommendation_of",
    "signal_score",
    "utc_now_iso",
]
