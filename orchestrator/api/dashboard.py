"""The dashboard at ``/``: the morning's signals with today's expected moves, charts (forecasts,
risk against realized moves), run history, accuracy, paper book, health and cost, on one
server-rendered page.

Read-only and open like the other GET endpoints (no token). Jinja2 renders the page; the charts
are drawn in the browser by uPlot, which ships in the package (``static/vendor/uplot``, see its
``PROVENANCE.md``), so the page works offline and loads nothing from elsewhere: the Content
Security Policy allows this origin only. The chart data travels in the page as one JSON block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

import premarket
from orchestrator.api.dashboard_data import dashboard_view
from orchestrator.api.dashboard_risk import risk_charts
from orchestrator.common.clock import new_york_date
from orchestrator.data.calendar import TradingCalendar
from orchestrator.storage.store import Store
from premarket.settings import Settings

HERE = Path(__file__).parent
TIER_NAMES = {"tft": "TFT", "nhits": "N-HITS", "ensemble": "Ensemble", "statistical": "Statistical"}
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


async def _view(
    settings: Settings,
    store: Store,
    calendar: TradingCalendar,
    today: date,
    replays: bool | None,
) -> dict:
    """The page's figures, and the risk charts from the run history's runs."""
    view = await dashboard_view(settings, store, calendar, today, replays)
    runs = [row.run for row in view["history"]]
    view["risk"] = await risk_charts(settings, calendar, view["latest"], runs)
    return view


def _charts(view: dict) -> dict:
    """The JSON the page's script draws from."""
    accuracy, paper = view["accuracy"], view["paper"]
    return {
        "fans": view["fans"],
        "risk": view["risk"]["charts"],
        "rolling": accuracy["rolling"] if accuracy["rolling"][0] else None,
        "reliability": accuracy["reliability"],
        "equity": paper["curve"] if paper["curve"][0] else None,
        "starting_cash": paper["report"].starting_cash,
    }


def mount_dashboard(
    app: FastAPI,
    *,
    settings: Settings,
    store: Store,
    calendar: TradingCalendar,
    clock: Callable[[], datetime],
    health: Callable[[], Awaitable[dict]],
) -> None:
    """Add ``GET /`` and ``/static`` to ``app``; ``health`` is the API's ``/health`` document."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["tier_name"] = lambda tier: TIER_NAMES.get(tier, tier)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request) -> HTMLResponse:
        now = clock()
        # Reading the store and computing the figures is blocking work (~0.3 s for a month of
        # runs): a worker thread keeps the event loop, and a POST /analyze running in it, free.
        asked = request.query_params.get("replays")  # the page's live/replays toggle
        replays = None if asked is None else asked.lower() in ("1", "true", "yes")
        view_of_today = _view(settings, store, calendar, new_york_date(now), replays)
        view, status = await asyncio.gather(asyncio.to_thread(asyncio.run, view_of_today), health())
        context = {
            **view,
            "health": status,
            "charts": _charts(view),
            "now": now,
            "version": premarket.__version__,
        }
        response = templates.TemplateResponse(request, "dashboard.html", context)
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["Cache-Control"] = "no-store"
        return response
