"""The wire protocol shared by the model services and the orchestrator.

Two dialects reach every forecast service (see ORIGIN.md of the original system):

1. the original flat body at ``POST /predict``: ``{"symbol", "sequence_data", ...}`` answered by
   a flat object (``success``, ``model_used``, ``predicted_price``, ...);
2. the ModelScope envelope ``{"input": {...}, "parameters": {...}}`` at ``POST /call`` and
   ``POST /api/v1/models/{org}/{name}``, answered by ``{"Code", "Success", "Message",
   "RequestId", "Data"}``.

This module imports pydantic only, so the orchestrator can use it without torch or bentoml.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Direction = Literal["UP", "DOWN", "FLAT"]
Recommendation = Literal["BUY", "SELL", "HOLD"]

MIN_ROWS = 2
"""The protocol's own minimum (the original rejected fewer than 2 rows); models may need more."""
MAX_ROWS = 1000
"""The most daily rows one request may carry (about four years); longer bodies are refused."""
MAX_TEXTS = 256
"""The most texts one sentiment request may carry."""
MAX_TEXT_CHARS = 5000
"""Longer texts are refused; texts are truncated to the model's token limit after that."""
RECOMMENDATION_THRESHOLD = 0.2
"""|signal_score| above this makes a BUY or SELL recommendation, as the original's sentiment rule."""

SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9.\-^=]{0,14}$"


class ProtocolError(ValueError):
    """A request that breaks the protocol; ``field`` names the offending field."""

    def __init__(self, field: str, problem: str, required_minimum: int | None = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.required_minimum = required_minimum


OHLCVRow = Annotated[list[float], Field(min_length=5, max_length=5)]


class ForecastInput(BaseModel):
    """One forecast request: the original flat body (also the ``input`` of the envelope)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    symbol: str = Field(max_length=15, description="Ticker, e.g. AAPL (upper-cased).")
    sequence_data: list[OHLCVRow] = Field(
        min_length=MIN_ROWS,
        max_length=MAX_ROWS,
        description="Daily rows [open, high, low, close, volume], oldest first.",
    )
    dates: list[date] | None = Field(
        default=None, description="Optional trading date of each row (same length)."
    )
    request_id: str | None = Field(default=None, max_length=128)
    timestamp: str | None = Field(default=None, max_length=64)
    client_version: str | None = Field(default=None, max_length=64)

    @field_validator("symbol", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("symbol")
    @classmethod
    def _symbol_shape(cls, value: str) -> str:
        import re

        if not re.fullmatch(SYMBOL_PATTERN, value):
            raise ValueError("must be 1-15 characters of A-Z, 0-9, '.', '-', '^' or '='")
        return value

    @field_validator("sequence_data")
    @classmethod
    def _rows_valid(cls, rows: list[list[float]]) -> list[list[float]]:
        for i, (o, h, low, c, v) in enumerate(rows):
            if not all(math.isfinite(x) for x in (o, h, low, c, v)):
                raise ValueError(f"row {i}: values must be finite numbers (no NaN or infinity)")
            if min(o, h, low, c) <= 0:
                raise ValueError(f"row {i}: prices must be positive")
            if v < 0:
                raise ValueError(f"row {i}: volume must not be negative")
            if h < low:
                raise ValueError(f"row {i}: high {h} is below low {low}")
        return rows

    @model_validator(mode="after")
    def _dates_match(self) -> ForecastInput:
        if self.dates is not None:
            if len(self.dates) != len(self.sequence_data):
                raise ValueError("dates must have one entry per row of sequence_data")
            if any(b <= a for a, b in zip(self.dates, self.dates[1:], strict=False)):
                raise ValueError("dates must be strictly increasing")
        return self


class ForecastParameters(BaseModel):
    """The envelope's ``parameters`` for a forecast (all optional)."""

    model_config = ConfigDict(extra="ignore")

    include_importance: bool = Field(
        default=False, description="Add the model's variable importances (TFT only)."
    )


class PriceForecast(BaseModel):
    """What a forecasting model says about one window, before it is put on the wire."""

    current_price: float
    forecast_path: list[float] = Field(description="Predicted closes, next day first.")
    quantiles: dict[str, float] | None = Field(
        default=None, description="Next close by quantile, keys like 'p10', 'p50', 'p90'."
    )
    confidence: float = Field(
        ge=0.0, le=1.0, description="Probability that the predicted direction is right."
    )
    model_version: str
    variable_importance: dict[str, dict[str, float]] | None = None

    @property
    def predicted_price(self) -> float:
        return self.forecast_path[0]


def direction_of(change: float) -> Direction:
    """UP, DOWN or FLAT by the sign of a price change."""
    return "UP" if change > 0 else "DOWN" if change < 0 else "FLAT"


def signal_score(direction: Direction, confidence: float) -> float:
    """The signed edge of a forecast in -1..1: ``±(2·confidence - 1)``.

    A confidence of 0.5 (a coin flip) scores 0; a certain UP scores 1. Tying the score to the
    probability that the direction is right, not to the size of the move, keeps it honest.
    """
    sign = {"UP": 1.0, "DOWN": -1.0, "FLAT": 0.0}[direction]
    return round(sign * max(0.0, 2.0 * confidence - 1.0), 6)


def recommendation_of(score: float, threshold: float = RECOMMENDATION_THRESHOLD) -> Recommendation:
    """BUY above ``threshold``, SELL below its negative, else HOLD."""
    return "BUY" if score > threshold else "SELL" if score < -threshold else "HOLD"


def _price(value: float) -> float:
    """A price to at least 4 decimals and 6 significant digits: short JSON without float32
    noise (156.89999 -> 156.9), and a sub-cent price is never rounded to 0."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(4, 6 - math.ceil(math.log10(abs(value)))))


def utc_now_iso() -> str:
    """An ISO-8601 UTC timestamp with milliseconds and a Z, as the original clients wrote."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ForecastResult(BaseModel):
    """A successful flat forecast answer: the original's fields plus ours."""

    success: Literal[True] = True
    model_used: str
    predicted_price: float
    current_price: float
    price_change: float
    price_change_percent: float
    direction: Direction
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description="Probability that the direction is right: a fraction, never a percent.",
    )
    inference_time_ms: float
    symbol: str
    timestamp: str
    request_id: str | None = None
    signal_score: float
    recommendation: Recommendation
    quantiles: dict[str, float] | None = None
    forecast_path: list[float]
    horizon_days: int
    model_version: str
    variable_importance: dict[str, dict[str, float]] | None = None

    @classmethod
    def build(
        cls,
        forecast: PriceForecast,
        *,
        symbol: str,
        model_used: str,
        inference_time_ms: float,
        request_id: str | None = None,
    ) -> ForecastResult:
        """Derive the flat answer (change, direction, score) from a model's forecast."""
        change = forecast.predicted_price - forecast.current_price
        direction = direction_of(change)
        score = signal_score(direction, forecast.confidence)
        return cls(
            model_used=model_used,
            predicted_price=_price(forecast.predicted_price),
            current_price=_price(forecast.current_price),
            price_change=_price(change),
            price_change_percent=round(100.0 * change / forecast.current_price, 4),
            direction=direction,
            confidence=round(forecast.confidence, 4),
            inference_time_ms=round(inference_time_ms, 3),
            symbol=symbol,
            timestamp=utc_now_iso(),
            request_id=request_id,
            signal_score=score,
            recommendation=recommendation_of(score),
            quantiles=(
                {k: _price(v) for k, v in forecast.quantiles.items()}
                if forecast.quantiles
                else None
            ),
            forecast_path=[_price(p) for p in forecast.forecast_path],
            horizon_days=len(forecast.forecast_path),
            model_version=forecast.model_version,
            variable_importance=forecast.variable_importance,
        )


class ForecastError(BaseModel):
    """A failed flat forecast answer, as the original shaped it."""

    success: Literal[False] = False
    error: str
    model_used: str = "None"
    field: str | None = None
    required_minimum: int | None = None
    request_id: str | None = None


class ModelScopeRequest(BaseModel):
    """The ModelScope request envelope; ``input`` is required ("No input data!")."""

    model_config = ConfigDict(extra="ignore")

    input: Any = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class ModelScopeResponse(BaseModel):
    """The ModelScope response envelope."""

    Code: int = 200
    Success: bool = True
    Message: str = "success"
    RequestId: str
    Data: Any = None
    InferenceTimeMs: float | None = Field(
        default=None,
        description="Model time measured inside the service (ours; absent on ModelScope).",
    )


class SentimentInput(BaseModel):
    """Sentiment ``input``: ``{"text": "..."}``, ``{"texts": [...]}`` normalised to a list."""

    model_config = ConfigDict(extra="ignore")

    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)
    single: bool = Field(default=True, description="Answer one object, not a list.")

    @field_validator("texts")
    @classmethod
    def _texts_valid(cls, texts: list[str]) -> list[str]:
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(f"text {i} is empty")
            if len(text) > MAX_TEXT_CHARS:
                raise ValueError(f"text {i} has {len(text)} characters; at most {MAX_TEXT_CHARS}")
        return texts

    @classmethod
    def parse(cls, raw: Any) -> SentimentInput:
        """Accept a bare string, a list of strings, ``{"text": s}`` or ``{"text"/"texts": [..]}``."""
        if isinstance(raw, str):
            return cls(texts=[raw], single=True)
        if isinstance(raw, list):
            return cls(texts=raw, single=False)
        if isinstance(raw, dict):
            value = raw.get("text", raw.get("texts"))
            if value is None:
                raise ProtocolError("input.text", "is missing")
            return cls.parse(value)
        raise ProtocolError("input", "must be a string, a list of strings or {'text': ...}")


class SentimentScores(BaseModel):
    """One text's answer: every label with its probability, highest first (ModelScope style)."""

    labels: list[Literal["positive", "negative", "neutral"]]
    scores: list[float]
    source: str = Field(default="model", description="'model' or 'lexicon' (the fallback).")

    def score_of(self, label: str) -> float:
        return dict(zip(self.labels, self.scores, strict=True)).get(label, 0.0)
