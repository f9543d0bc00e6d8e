"""The shared wire protocol: validation of the original flat body and derived answer fields."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from premarket.protocol import (
    ForecastInput,
    ForecastResult,
    PriceForecast,
    ProtocolError,
    SentimentInput,
    recommendation_of,
    signal_score,
)

ROW = [220.0, 225.0, 218.0, 223.0, 50_000_000]


def test_original_body_is_accepted_and_extra_fields_ignored() -> None:
    body = {
        "symbol": "aapl",
        "sequence_data": [ROW] * 30,
        "request_id": "AAPL_1725449400000",
        "timestamp": "2025-09-04T11:30:00.000Z",
        "client_version": "cloudflare-worker-1.0",
        "something_new": 1,
    }
    parsed = ForecastInput.model_validate(body)
    assert parsed.symbol == "AAPL" and len(parsed.sequence_data) == 30


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([ROW], "at least 2"),
        ([ROW, [1, 2, 3]], "at least 5"),
        ([ROW, [220.0, math.nan, 218.0, 223.0, 1]], "finite"),
        ([ROW, [220.0, math.inf, 218.0, 223.0, 1]], "finite"),
        ([ROW, [-1.0, 225.0, 218.0, 223.0, 1]], "positive"),
        ([ROW, [220.0, 210.0, 218.0, 215.0, 1]], "below low"),
        ([ROW, [220.0, 225.0, 218.0, 223.0, -5]], "volume"),
    ],
)
def test_bad_rows_name_the_problem(rows: list, problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        ForecastInput(symbol="AAPL", sequence_data=rows)
    error = info.value.errors()[0]
    assert error["loc"][0] == "sequence_data"
    assert problem in error["msg"]


@pytest.mark.parametrize("symbol", ["", "AAPL; DROP", "A" * 16, "a b"])
def test_malformed_symbol_is_refused(symbol: str) -> None:
    with pytest.raises(ValidationError) as info:
        ForecastInput(symbol=symbol, sequence_data=[ROW, ROW])
    assert info.value.errors()[0]["loc"] == ("symbol",)


def test_answer_fields_derive_from_the_forecast() -> None:
    forecast = PriceForecast(
        current_price=100.0,
        forecast_path=[101.0, 102.0],
        quantiles={"p10": 99.0, "p50": 101.0, "p90": 103.0},
        confidence=0.7,
        model_version="t1",
    )
    result = ForecastResult.build(
        forecast, symbol="AAPL", model_used="TFT (Primary)", inference_time_ms=1.5, request_id="r"
    )
    assert result.price_change == pytest.approx(1.0)
    assert result.price_change_percent == pytest.approx(1.0)
    assert result.direction == "UP"
    assert result.signal_score == pytest.approx(0.4)
    assert result.recommendation == "BUY"
    assert result.horizon_days == 2 and result.timestamp.endswith("Z")


def test_signal_score_is_the_signed_edge() -> None:
    assert signal_score("UP", 0.5) == 0.0
    assert signal_score("DOWN", 0.8) == pytest.approx(-0.6)
    assert signal_score("FLAT", 0.9) == 0.0
    assert recommendation_of(0.21) == "BUY" and recommendation_of(-0.21) == "SELL"
    assert recommendation_of(0.2) == "HOLD"


@pytest.mark.parametrize(
    ("raw", "texts", "single"),
    [
        ("Apple beats", ["Apple beats"], True),
        ({"text": "Apple beats"}, ["Apple beats"], True),
        ({"text": ["a", "b"]}, ["a", "b"], False),
        (["a", "b"], ["a", "b"], False),
    ],
)
def test_sentiment_input_dialects(raw: object, texts: list[str], single: bool) -> None:
    parsed = SentimentInput.parse(raw)
    assert parsed.texts == texts and parsed.single is single


def test_sentiment_input_errors_name_the_field() -> None:
    with pytest.raises(ProtocolError, match="input.text"):
        SentimentInput.parse({"txt": "x"})
    with pytest.raises(ValidationError, match="text 0 is empty"):
        SentimentInput.parse("   ")
    with pytest.raises(ValidationError, match="characters"):
        SentimentInput.parse("x" * 6000)


def test_tiny_prices_keep_their_value() -> None:
    forecast = PriceForecast(
        current_price=2.5e-5, forecast_path=[2.6e-5], confidence=0.6, model_version="t"
    )
    result = ForecastResult.build(forecast, symbol="PENNY", model_used="x", inference_time_ms=1)
    assert result.current_price == pytest.approx(2.5e-5)
    assert result.forecast_path[0] > 0 and result.direction == "UP"


def test_prices_drop_float32_noise() -> None:
    forecast = PriceForecast(
        current_price=156.89999389648438,
        forecast_path=[1234.56789123],
        confidence=0.6,
        model_version="t",
    )
    result = ForecastResult.build(forecast, symbol="AAPL", model_used="x", inference_time_ms=1)
    assert result.current_price == 156.9
    assert result.predicted_price == 1234.5679
