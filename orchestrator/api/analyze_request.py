"""The body of ``POST /analyze``: which symbols, which morning, and whether to wait."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

from premarket.protocol import is_ticker


class AnalyzeRequest(BaseModel):
    """Optional body of ``POST /analyze``; an empty body runs the configured symbols live."""

    model_config = ConfigDict(extra="forbid")  # {"symbol": ...} is a typo, not "all symbols"

    symbols: list[str] | None = Field(default=None, max_length=200)
    as_of: date | None = Field(default=None, description="Replay the morning after this date.")
    offline: bool = Field(default=False, description="Bundled prices and news, no Yahoo.")
    wait: bool = Field(default=True, description="Answer with the result (else 202 at once).")

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        upper = [s.strip().upper() for s in value]
        bad = [s for s in upper if not is_ticker(s)]
        if bad or not upper:
            raise ValueError(f"not valid tickers: {bad}" if bad else "must not be empty")
        return upper
