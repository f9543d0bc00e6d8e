"""Today's risk in front of the trader: the expected move in ``premarket analyze``'s table, in
the alerts (with a HIGH_RISK alert of its own), and on the dashboard (a column and a chart per
symbol of the forecasts against the moves that came true).

The bundled prices' March 2023 (the banks' week) gives the cases: the run of 2023-03-13 sees
JPM's expected move at about twice its normal (high risk), AAPL's ordinary. Everything runs for
real: the CLI as a process, the job against loopback model stubs and webhook recorders, the
dashboard over HTTP and in headless Chromium; every store is the test's own SQLite file.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from orchestrator_stubs import Recorder, make_settings, model_stubs, run_cli
from pydantic import SecretStr
from run_documents import make_run, signal
from test_dashboard import PAINTED, get_page, needs_chromium

from orchestrator.api.app import create_app
from orchestrator.api.browser import browser, serving
from orchestrator.data.market import OfflineMarketData
from orchestrator.documents.run import RiskForecast, RunResult
from orchestrator.jobs.analysis import run_analysis
from orchestrator.storage.store import Store
from premarket.data import PRICES_CSV

HIGH_MORNING = date(2023, 3, 13)  # JPM high risk the next session, AAPL not
MORNINGS = [date(2023, 3, 9), date(2023, 3, 10), HIGH_MORNING]
NOW = datetime(2023, 3, 14, 11, 0, tzinfo=UTC)


def shown(risk: RiskForecast | dict) -> str:
    """The table's and the dashboard's text for an expected move."""
    r = risk if isinstance(risk, dict) else risk.model_dump()
    return f"±{r['expected_move_pct']:.2f}%  rng {100 * r['range_hl']:.2f}%"


def said(risk: RiskForecast) -> str:
    """The alerts' text for an expected move."""
    return f"±{risk.expected_move_pct:.1f}% expected, range {100 * risk.range_hl:.1f}%"


def stub_env(stubs: dict) -> dict[str, str]:
    urls = {f"PREMARKET_{name.upper()}__URL": stub.url for name, stub in stubs.items()}
    return {**urls, "PREMARKET_SIGNAL__MODE": "original"}  # the stubs' confidences suit it


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    """The bundled prices with JPM ending on 2023-03-13 (stale two days later), AAPL to
    2023-03-15, and NEWCO: 40 sessions of AAPL's bars, too short a history for a risk forecast."""
    with PRICES_CSV.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    aapl = [r for r in rows if r[0] == "AAPL" and r[1] <= "2023-03-15"]
    kept = [r for r in rows if r[0] == "JPM" and r[1] <= "2023-03-13"] + aapl
    kept += [["NEWCO", *r[1:]] for r in aapl[-40:]]
    path = tmp_path / "prices.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *kept])
    return path


def test_the_table_shows_the_expected_move_and_marks_high_risk(tmp_path: Path, prices) -> None:
    with model_stubs() as stubs:
        result = run_cli(
            tmp_path, "analyze", "--offline", "--as-of", str(HIGH_MORNING),
            "--symbols", "JPM", "AAPL", "NEWCO", "--prices", str(prices), "--json", "run.json",
            env=stub_env(stubs),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    signals = json.loads((tmp_path / "run.json").read_text())["trading_signals"]
    assert signals["JPM"]["risk"]["high_risk"] is True
    assert signals["AAPL"]["risk"]["high_risk"] is False
    assert signals["NEWCO"].get("risk") is None  # 40 sessions: analysed, but no risk forecast

    lines = result.stdout.splitlines()
    header = next(line for line in lines if "Expected move" in line)
    column = [c.strip() for c in header.split("┃")].index("Expected move")

    def cells(symbol: str) -> tuple[str, str]:
        """The symbol's expected-move cell, and the same column on the line under it."""
        at = next(i for i, line in enumerate(lines) if line.startswith(f"│ {symbol} "))
        rows = [line for line in lines[at : at + 2] if line.startswith("│")]
        return tuple(line.split("│")[column].strip() for line in rows)

    assert cells("JPM") == (shown(signals["JPM"]["risk"]), "HIGH")
    figures, under = cells("AAPL")
    assert figures == shown(signals["AAPL"]["risk"]) and under != "HIGH"
    assert cells("NEWCO")[0] == "-"
    assert max(len(line) for line in lines) <= 120  # piped: the table still fits 120 columns


def test_a_high_risk_symbol_is_alerted_once_and_every_alert_quotes_the_move(tmp_path) -> None:
    hook, slack = Recorder(), Recorder()
    with model_stubs() as stubs:
        settings = make_settings(tmp_path, *(stubs[n].url for n in ("tft", "nhits", "sentiment")))
        settings.alerts.webhook_url = SecretStr(f"{hook.url}/hook")
        settings.alerts.slack_webhook_url = SecretStr(f"{slack.url}/slack")
        settings.alerts.digest = True
        settings.alerts.confidence_threshold = 0.75  # the stub TFT's BUYs come at 0.794
        store = Store(settings.database_url)
        try:
            runs = [
                asyncio.run(
                    run_analysis(
                        settings,
                        symbols=["JPM", "AAPL"],
                        as_of=HIGH_MORNING,
                        offline=True,
                        store=store,
                    )
                )
                for _ in range(2)  # the cron job's second slot of the same morning
            ]
        finally:
            store.close()
            hook.stop()
            slack.stop()
    first, again = runs
    jpm, aapl = (first.signals[s].risk for s in ("JPM", "AAPL"))
    assert jpm.high_risk and not first.signals["JPM"].stale and not aapl.high_risk

    # HIGH_RISK: JPM only, its figures against its normal; once for the business date.
    high = [m for m in hook.received if m["level"] == "HIGH_RISK"]
    assert [(m["symbol"], m["action"]) for m in high] == [("JPM", "HIGH_RISK")]
    assert high[0]["message"] == (
        f"JPM: high risk today: ±{jpm.expected_move_pct:.1f}% expected "
        f"({jpm.ratio:.1f}x its normal ±{100 * jpm.normal_sigma_oc:.1f}%), "
        f"range {100 * jpm.range_hl:.1f}%"
    )
    (record,) = [a for a in first.alerts if a.level == "HIGH_RISK"]
    assert record.symbol == "JPM" and not record.duplicate
    assert sorted(record.delivered) == ["slack", "webhook"]
    repeated = [a for a in again.alerts if a.level == "HIGH_RISK"]
    assert len(repeated) == 1 and repeated[0].duplicate and repeated[0].delivered == []
    slack_high = [m for m in slack.received if m["text"].startswith("JPM: high risk")]
    assert len(slack_high) == 1 and slack_high[0]["attachments"][0]["color"] == "warning"
    assert f"Today: {said(jpm)} (high risk)" in slack_high[0]["attachments"][0]["text"]

    # The signal alerts: the move in the headline and in the figures.
    confident = [m for m in hook.received if m["level"] == "HIGH_CONFIDENCE"]
    assert {m["symbol"] for m in confident} == {"JPM", "AAPL"}
    for m in confident:
        risk = first.signals[m["symbol"]].risk
        assert m["message"].endswith(f", {said(risk)}")
        (facts,) = m["facts"]
        assert facts["expected_move_pct"] == risk.expected_move_pct
        assert facts["high_risk"] is risk.high_risk

    # The digest: the high-risk symbols named, every signal's move in its text.
    digests = [m for m in slack.received if m["text"].startswith("Pre-market signals")]
    assert len(digests) == 2
    for digest in digests:  # the headline, then which morning, which run, where to look
        headline, about = digest["text"].splitlines()
        assert headline.endswith("; high risk today: JPM")
        assert about.startswith("for 2023-03-14 · run run_") and about.endswith(":8000/")
    texts = {a["fields"][0]["value"]: a["text"] for a in digests[0]["attachments"]}
    assert f"Today: {said(jpm)} (high risk)" in texts["JPM"]
    assert f"Today: {said(aapl)}\n" in texts["AAPL"]


def test_no_high_risk_alert_on_stale_data(tmp_path, prices) -> None:
    hook = Recorder()
    with model_stubs() as stubs:
        urls = (stubs[n].url for n in ("tft", "nhits", "sentiment"))
        settings = make_settings(tmp_path, *urls, prices_csv=prices)
        settings.alerts.webhook_url = SecretStr(f"{hook.url}/hook")
        settings.alerts.confidence_threshold = 0.75
        try:
            result = asyncio.run(
                run_analysis(
                    settings,
                    symbols=["JPM", "AAPL", "NEWCO"],
                    as_of=date(2023, 3, 15),
                    offline=True,
                )
            )
        finally:
            hook.stop()
    jpm = result.signals["JPM"]
    assert jpm.stale and jpm.risk is not None and jpm.risk.high_risk  # high, but stale
    levels = [m["level"] for m in hook.received]
    assert "HIGH_RISK" not in levels and "HIGH_RISK" not in {a.level for a in result.alerts}
    assert "STALE_DATA" in levels
    newco = next(m for m in hook.received if m["symbol"] == "NEWCO")
    assert newco["level"] == "HIGH_CONFIDENCE" and "expected" not in newco["message"]
    assert newco["facts"][0]["expected_move_pct"] is None


@pytest.fixture(scope="module")
def march(tmp_path_factory):
    """Settings and a store of three offline mornings of JPM and AAPL, the last one high risk."""
    tmp = tmp_path_factory.mktemp("risk-dashboard")
    with model_stubs() as stubs:
        settings = make_settings(tmp, *(stubs[n].url for n in ("tft", "nhits", "sentiment")))
        store = Store(settings.database_url)
        try:
            for morning in MORNINGS:
                asyncio.run(
                    run_analysis(
                        settings, symbols=["JPM", "AAPL"], as_of=morning, offline=True, store=store
                    )
                )
            yield settings, store
        finally:
            store.close()


def chart_data(html: str) -> dict:
    found = re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))


def day_of(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def test_the_page_shows_the_move_and_charts_forecasts_against_realized_moves(march) -> None:
    settings, store = march
    html = get_page(settings, store).text
    latest = store.latest_run()
    assert '<th class="num">Expected move</th>' in html
    for symbol, sig in latest.signals.items():
        row = re.search(rf'<tr class="signal-row" data-symbol="{symbol}">(.*?)</tr>', html, re.S)
        assert row is not None and shown(sig.risk) in row.group(1)
        assert ('class="high-risk"' in row.group(1)) is sig.risk.high_risk
    assert latest.signals["JPM"].risk.high_risk  # so the marker above was seen once

    assert '<section id="risk">' in html and html.count('data-chart="risk"') == 2
    charts = {c["symbol"]: c for c in chart_data(html)["risk"]}
    assert list(charts) == ["JPM", "AAPL"]
    runs = sorted(store.recent_runs(30, latest.business_date), key=lambda r: r.business_date)
    market = OfflineMarketData()
    for symbol, chart in charts.items():
        x, sigma, realized, p10, p90 = chart["data"]
        days = [day_of(t) for t in x]
        assert days == [r.business_date for r in runs]  # one point per stored morning
        assert sigma == [round(100 * r.signals[symbol].risk.sigma_oc, 3) for r in runs]
        assert p10 == [round(100 * r.signals[symbol].risk.p10, 3) for r in runs]
        assert all(lo < 0 < s < hi for lo, s, hi in zip(p10, sigma, p90, strict=True))
        bars = asyncio.run(market.bars_between(symbol, days[0], days[-1]))
        moves = {d: round(100 * abs(math.log(c / o)), 3) for d, o, c in bars}
        assert realized == [moves[d] for d in days] and chart["realized"] == len(days)
        assert f"{symbol} <small>(3 sessions, 3 realized)</small>" in html


def forecast(sigma: float) -> dict:
    return RiskForecast(
        sigma_oc=sigma, expected_move_pct=round(100 * sigma, 3), range_hl=1.55 * sigma,
        p10=-1.22 * sigma, p90=1.23 * sigma, normal_sigma_oc=0.01, ratio=sigma / 0.01,
        high_risk=sigma >= 0.015, own_har=True, model_version="risk-test",
    ).model_dump()  # fmt: skip


def run_with_risk(run_id: str, day: str, stamp: str, sigma: float, mode: str) -> RunResult:
    sig = signal(100.0, data_as_of=day)
    sig["risk"] = forecast(sigma)
    run = make_run(run_id, day, stamp, signals={"AAPL": sig}, as_of=day)
    return RunResult.model_validate({**run.to_document(), "mode": mode})


def test_live_runs_past_the_price_file_chart_the_forecast_alone(tmp_path) -> None:
    settings = make_settings(tmp_path, *["http://127.0.0.1:9"] * 3)
    store = Store(settings.database_url)
    try:
        for run in (
            run_with_risk("run_a", "2024-03-04", "2024-03-04T12:00:00.000Z", 0.011, "live"),
            run_with_risk("run_b", "2024-03-05", "2024-03-05T12:00:00.000Z", 0.016, "live"),
            # after the 09:30 open: not a pre-market forecast of its session
            run_with_risk("run_c", "2024-03-05", "2024-03-05T15:00:00.000Z", 0.030, "live"),
            run_with_risk("run_d", "2024-03-05", "2024-03-05T16:00:00.000Z", 0.050, "replay"),
        ):
            store.save_run(run)
        html = get_page(settings, store).text
    finally:
        store.close()
    (chart,) = chart_data(html)["risk"]
    x, sigma, realized, _, _ = chart["data"]
    assert [day_of(t) for t in x] == [date(2024, 3, 4), date(2024, 3, 5)]
    assert sigma == [1.1, 1.6] and realized == [None, None]  # the file ends in 2023
    assert "AAPL <small>(2 sessions, no realized)</small>" in html
    assert "each live run forecast" in html


@needs_chromium
def test_in_chromium_the_column_and_the_risk_charts_are_drawn(march) -> None:
    settings, store = march
    problems: list[str] = []
    with serving(create_app(settings, store=store, clock=lambda: NOW)) as url, browser() as found:
        page = found.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        assert page.goto(url + "/").ok
        charts = page.locator('#risk [data-chart="risk"]')
        page.wait_for_function(
            "() => document.querySelectorAll('#risk [data-chart=\"risk\"] canvas').length >= 2"
        )
        assert charts.count() == 2
        for i in range(2):
            assert charts.nth(i).evaluate(PAINTED) > 100, f"risk chart {i} is blank"
        headers = page.locator("table.signals thead th").all_inner_texts()
        assert "Expected move" in headers
        column = headers.index("Expected move")
        latest = store.latest_run()
        for symbol, sig in latest.signals.items():
            cell = page.locator(f'tr.signal-row[data-symbol="{symbol}"] td').nth(column)
            text = cell.inner_text()
            assert text.startswith(f"±{sig.risk.expected_move_pct:.2f}%")
            assert text.endswith("HIGH") is sig.risk.high_risk
            assert cell.locator(".high-risk").count() == int(sig.risk.high_risk)
    assert problems == []
