"""Forecast requests and answers: the original callers' flat fields, inside or outside the
ModelScope envelope."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from premarket.plausible import check_dates, check_rows
from premarket.protocol.common import (
    MAX_ROWS,
    MIN_ROWS,
    SYMBOL_PATTERN,
    Direction,
    Recommendation,
    _price,
    direction_of,
    recommendation_of,
    signal_score,
    utc_now_iso,
)

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
        check_rows(rows)
        return rows

    @field_validator("dates")
    @classmethod
    def _dates_in_range(cls, dates: list[date] | None) -> list[date] | None:
        check_dates(dates or [])
        return dates

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
