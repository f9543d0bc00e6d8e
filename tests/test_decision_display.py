"""Issue 30.4: the table stops contradicting itself. When the decision model gives the price
forecast no weight, a row shows only the forecast's p10-p90 band ("band") and no point forecast
beside the probability, and a probability no input moved says it is the base rate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from rich.console import Console
from run_documents import make_run, signal
from test_api import make_settings
from test_decision import HAND, forecast, news

from orchestrator.api.app import create_app
from orchestrator.cli.analyze import render
from orchestrator.signals.calibrated import BUNDLED_MODEL, calibrated
from orchestrator.storage.store import Store
from premarket.decision import DecisionModel
from premarket.settings import SignalSettings

FIT = DecisionModel.load(BUNDLED_MODEL).inputs


def _row(decision, predicted: float) -> dict:
    """A stored signal carrying ``decision`` (a falling or rising forecast of ``predicted``)."""
    row = signal(100.0, predicted=predicted, quantiles={"p10": 97.0, "p50": 98.0, "p90": 103.0})
    return {**row, **decision.model_dump()}


def _bundled_news(score: float, articles: int):
    return news(score, articles).model_copy(update={"model": FIT.sentiment_model})


def test_a_forecast_without_weight_is_shown_as_range_and_the_base_rate_says_so(tmp_path: Path):
    bundled = DecisionModel.load(BUNDLED_MODEL)
    assert dict(zip(bundled.features, bundled.coefficients, strict=True))["price_edge"] == 0.0
    settings = SignalSettings()
    quiet = calibrated(forecast(97.0), news(0.0, 0), settings, FIT.price_tier)
    assert quiet.calibrated and quiet.drivers == []  # nothing moved it: the base rate
    told = calibrated(forecast(97.0), _bundled_news(0.9, 3), settings, FIT.price_tier)
    assert told.calibrated and told.drivers == ["news"]
    hand = tmp_path / "hand.json"
    both = calibrated(
        forecast(103.0), news(0.9, 3), SignalSettings(decision_model=HAND.save(hand)), "tft"
    )
    assert both.drivers == ["price_edge", "news"]

    run = make_run(
        "r1",
        "2022-09-21",
        "2022-09-21T10:30:00+00:00",
        signals={"QUIET": _row(quiet, 98.5), "NEWS": _row(told, 98.5), "BOTH": _row(both, 103.0)},
    )
    shown = run.signals
    assert shown["QUIET"].probability_label == "up (base rate)"
    assert shown["NEWS"].probability_label == ("up" if told.probability_up >= 0.5 else "down")
    assert not shown["NEWS"].forecast_has_weight and shown["BOTH"].forecast_has_weight
    console = Console(width=200, record=True)
    console.print(render(run))
    lines = {
        line.split("│")[1].strip(): line
        for line in console.export_text().splitlines()
        if line.count("│") > 3
    }
    assert "base rate" in lines["QUIET"] and "band (97.00-103.00)" in lines["QUIET"]
    assert "98.50" not in lines["QUIET"] and "98.50" not in lines["NEWS"]  # no falling forecast
    assert "103.00 (97.00-103.00)" in lines["BOTH"]

    store = Store(make_settings(tmp_path).database_url)
    store.save_run(run)

    async def page() -> str:
        transport = httpx.ASGITransport(app=create_app(make_settings(tmp_path), store=store))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return (await client.get("/")).text

    html = asyncio.run(page())
    store.close()
    quiet_row = html.split('data-symbol="QUIET"')[1].split("</tr>")[0]
    assert "base rate" in quiet_row and ">band<" in quiet_row and "98.50" not in quiet_row
    both_row = html.split('data-symbol="BOTH"')[1].split("</tr>")[0]
    assert "103.00" in both_row and ">band<" not in both_row
