"""The dashboard at ``/``: over HTTP, and in a real headless Chromium (Debian's ``chromium``).

The store is filled the way production fills it: offline runs of ``run_analysis`` against
loopback stand-ins of the model services (bundled prices and news), their forecasts scored
against the bundled closes, and the paper book updated from them. One symbol cannot be analysed,
so the page has to tell analysed symbols from failed ones.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from orchestrator_stubs import ModelStub, make_settings

from orchestrator.api.app import create_app
from orchestrator.api.browser import PHONE, browser, serving
from orchestrator.cli.main import main as cli_main
from orchestrator.data.calendar import TradingCalendar
from orchestrator.data.market import OfflineMarketData
from orchestrator.jobs.analysis import run_analysis
from orchestrator.storage.store import Store
from orchestrator.tracking.accuracy import AccuracyLedger, score_pending
from orchestrator.tracking.paper_account import PaperAccount

SYMBOLS = ["AAPL", "MSFT", "NVDA", "ZZZZZ"]  # ZZZZZ is not in the bundled prices
ANALYSED = ["AAPL", "MSFT", "NVDA"]
MORNINGS = [date(2022, 9, 13), date(2022, 9, 14), date(2022, 9, 15)]
MARKED_THROUGH = date(2022, 9, 20)
NOW = datetime(2022, 9, 16, 11, 0, tzinfo=UTC)
needs_chromium = pytest.mark.usefixtures("require_chromium")
"""A browser test: it fails when Chromium is missing, unless PREMARKET_SKIP_BROWSER=1 asks to
skip it (tests/conftest.py), so a plain ``pytest`` never passes without having looked."""


def get_page(settings, store: Store, path: str = "/") -> httpx.Response:
    """The dashboard as the API serves it, in process, at the fixed ``NOW``; it must be a 200."""

    async def get() -> httpx.Response:
        app = create_app(settings, store=store, clock=lambda: NOW)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)

    page = asyncio.run(get())
    assert page.status_code == 200
    return page


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """Settings and a store holding three offline runs, their scores and a paper book."""
    tmp = tmp_path_factory.mktemp("dashboard")
    stubs = [
        ModelStub("forecast", "TFT (Primary)", change=0.02, confidence=0.9),
        ModelStub("forecast", "N-HITS (Backup)", change=-0.01, confidence=0.7),
        ModelStub("sentiment"),
    ]
    settings = make_settings(tmp, *(s.url for s in stubs))
    store = Store(settings.database_url)
    try:
        for morning in MORNINGS:
            asyncio.run(
                run_analysis(settings, symbols=SYMBOLS, as_of=morning, offline=True, store=store)
            )
        market, calendar = OfflineMarketData(), TradingCalendar()
        asyncio.run(
            score_pending(
                AccuracyLedger(store.engine), market, calendar, MARKED_THROUGH, ("replay",)
            )
        )
        paper = PaperAccount(store.engine, settings.paper)
        asyncio.run(paper.update(market, MARKED_THROUGH, ("replay",)))
        yield settings, store
    finally:
        store.close()
        for stub in stubs:
            stub.stop()


def test_the_page_shows_each_analysed_symbol_and_every_section(filled):
    settings, store = filled
    latest = store.latest_run()
    assert sorted(latest.signals) == ANALYSED

    page = get_page(settings, store)
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    html = page.text
    assert html.count('class="signal-row"') == len(ANALYSED)
    assert "not analysed" in html and "ZZZZZ" in html
    for symbol, signal in latest.signals.items():
        assert f'data-symbol="{symbol}"' in html
        assert signal.action in html
        assert f"{signal.current_price:.2f}" in html
    for section in ("signals", "forecasts", "runs", "accuracy", "paper", "health", "cost"):
        assert f'<section id="{section}">' in html
    assert html.count('data-chart="fan"') == len(ANALYSED)
    assert html.count('class="run-row"') == len(MORNINGS)
    assert 'data-chart="rolling"' in html and 'data-chart="reliability"' in html
    assert 'data-chart="equity"' in html
    assert "per prediction (marginal)" in html and "against the goal of under $0.15" in html
    assert "https://" not in html.split("<footer>")[0]  # nothing loaded from elsewhere


def test_an_empty_store_says_so(tmp_path):
    settings = make_settings(
        tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9"
    )

    async def get() -> tuple[httpx.Response, httpx.Response]:
        app = create_app(settings, clock=lambda: NOW)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/"), await client.get("/static/vendor/uplot/uPlot.iife.min.js")

    page, library = asyncio.run(get())
    assert page.status_code == 200
    assert "No run has been stored yet" in page.text
    assert 'class="signal-row"' not in page.text
    assert library.status_code == 200 and b"uPlot" in library.content


def test_headlines_are_escaped(filled, tmp_path):
    settings, store = filled
    run = store.latest_run()
    hostile = "<script>alert('x')</script> beats estimates"
    document = run.to_document()
    document["run_id"] = run.run_id + "_h"
    document["timestamp"] = "2022-09-16T10:00:00.000Z"
    news = document["trading_signals"]["AAPL"]["components"]["sentiment_analysis"]
    news.update(source="model", article_count=1, sentiment="BULLISH")
    news["articles"] = [
        {
            "title": hostile,
            "published": "2022-09-15",
            "source": "x",
            "score": 0.9,
            "label": "POSITIVE",
        }
    ]
    other = Store(f"sqlite:///{tmp_path / 'h.db'}")
    other.save_run(type(run).model_validate(document))

    async def get() -> str:
        app = create_app(settings, store=other, clock=lambda: NOW)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return (await client.get("/")).text

    html = asyncio.run(get())
    other.close()
    assert "&lt;script&gt;alert(" in html
    assert "<script>alert(" not in html


PAINTED = """el => {
  const canvas = el.querySelector('canvas');
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}"""


@needs_chromium
@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_in_chromium_no_console_errors_a_row_per_symbol_and_drawn_charts(filled, viewport):
    settings, store = filled
    problems: list[str] = []
    with serving(create_app(settings, store=store, clock=lambda: NOW)) as url, browser() as found:
        page = found.new_page(viewport=viewport or {"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        assert page.goto(url + "/").ok
        charts = page.locator("[data-chart]")
        count = charts.count()
        page.wait_for_function(
            "n => document.querySelectorAll('[data-chart] canvas').length >= n", arg=count
        )
        assert page.locator("tr.signal-row").count() == len(ANALYSED)
        assert count == 2 * len(ANALYSED) + 3  # fans, risk, hit rate, reliability, equity
        for i in range(count):
            assert charts.nth(i).evaluate(PAINTED) > 100, f"chart {i} is blank"
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1  # readable on a phone: wide tables scroll inside their box
    assert problems == []
    assert all(u.startswith(url) or u.startswith("data:") for u in requested)


@needs_chromium
def test_the_screenshot_command_writes_a_png(filled, tmp_path, monkeypatch):
    settings, _ = filled
    monkeypatch.setenv("PREMARKET_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PREMARKET_STATE_DIR", str(tmp_path / "state"))
    target = tmp_path / "shots" / "dashboard.png"
    assert cli_main(["dashboard", "--screenshot", str(target)]) == 0
    data = Path(target).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_the_screenshot_command_refuses_another_format(tmp_path, capsys):
    assert cli_main(["dashboard", "--screenshot", str(tmp_path / "x.jpg")]) == 1
    assert "must end in .png" in capsys.readouterr().err


def test_the_wheel_ships_the_templates_and_the_chart_library(tmp_path):
    """No CDN: the page's template, script, styles and uPlot (with its licence) are package data."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path), str(root)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("premarket-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "templates/dashboard.html",
        "static/dashboard.js",
        "static/dashboard.css",
        "static/vendor/uplot/uPlot.iife.min.js",
        "static/vendor/uplot/uPlot.min.css",
        "static/vendor/uplot/LICENSE",
        "static/vendor/uplot/PROVENANCE.md",
    ):
        assert f"orchestrator/api/{name}" in names, name


def test_the_charts_data_say_what_they_show(filled):
    """Issue 28.8: a forecast path that is a fifth of its chart with its band, rolling points
    labelled with the sessions they hold, reliability bins that all hold forecasts, and a trade
    list with each trade's P&L."""
    from orchestrator.api.dashboard_data import CLOSES_SHOWN, accuracy_view, paper_view

    settings, store = filled
    page = get_page(settings, store).text
    latest = store.latest_run()
    view = asyncio.run(dashboard_view_of(settings, store))
    for fan in view["fans"]:
        x, closes, path, p10, p90 = fan["data"]
        ahead = len(latest.signals[fan["symbol"]].price.forecast_path)
        assert len(x) == CLOSES_SHOWN + ahead and sum(c is not None for c in closes) == CLOSES_SHOWN
        assert sum(p is not None for p in path) == ahead + 1  # from the last close on
        step = CLOSES_SHOWN  # the band of the next close is drawn
        assert p10[step] is not None and p90[step] is not None and p10[step] < p90[step]
    accuracy = accuracy_view(store, TradingCalendar(), "replay")
    low, high = accuracy["window_sessions"]
    assert 1 <= low <= high <= accuracy["window"]
    assert f"{low} to {high} sessions" in page or f"{low} session" in page
    reliability = accuracy["reliability"]
    assert reliability["bins"] and all(b["count"] > 0 for b in reliability["bins"])
    lo, hi = reliability["range"]
    assert all(lo <= b[k] <= hi for b in reliability["bins"] for k in ("stated", "observed"))
    trades = paper_view(store, settings)["trades"]
    assert trades and page.count('class="trade-row"') == len(trades)
    for trade in trades:
        assert f"{trade.pnl:+.2f}" in page


async def dashboard_view_of(settings, store):
    from orchestrator.api.dashboard_data import dashboard_view

    return await dashboard_view(settings, store, TradingCalendar(), NOW.date(), None)


@needs_chromium
def test_in_chromium_axes_carry_the_year_and_money_is_scaled_around_its_values(filled):
    settings, store = filled
    with serving(create_app(settings, store=store, clock=lambda: NOW)) as url, browser() as found:
        page = found.new_page(viewport={"width": 1280, "height": 900})
        assert page.goto(url + "/").ok
        page.wait_for_function("() => (window.premarketCharts || []).length > 0")
        labels = page.evaluate(
            """() => window.premarketCharts.filter(c => c.kind !== 'reliability').map(c => {
                 const axis = c.plot.axes[0];
                 return axis.values(c.plot, [Date.UTC(2022, 8, 20) / 1000])[0];
               })"""
        )
        assert labels and set(labels) == {"2022-09-20"}
        low, high = page.evaluate(
            """() => { const c = window.premarketCharts.find(c => c.kind === 'equity');
                       return [c.plot.scales.y.min, c.plot.scales.y.max]; }"""
        )
        cash = settings.paper.starting_cash
        assert 0.5 * cash < low < high < 1.5 * cash  # not 0 to twice the starting cash


def test_reliability_bins_group_by_the_stated_value_never_the_outcome():
    from orchestrator.api.dashboard_data import reliability_bins

    stated = [(0.9, i % 5 != 0) for i in range(100)]  # one stated value, right 80% of the time
    view = reliability_bins(stated)
    assert [b["observed"] for b in view["bins"]] == [80.0] * len(view["bins"])
    assert reliability_bins([]) is None
