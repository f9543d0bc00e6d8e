"""Book-keeping after runs: score forecasts whose closes are now known, update the paper book.

Shared by ``premarket schedule`` (after every slot), ``premarket accuracy`` and ``premarket
paper``. Both steps only read closes and are idempotent, so running them often is harmless;
running them after every slot also means no run is purged (``retention_days``) before the paper
book has applied it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx

from orchestrator.common.clock import utc_now
from orchestrator.data.calendar import calendar_of
from orchestrator.data.market import MarketData, OfflineMarketData, YahooMarketData
from orchestrator.storage.store import Store
from orchestrator.tracking.accuracy import AccuracyLedger, Mode, Score, score_pending
from orchestrator.tracking.paper_account import PaperAccount
from premarket.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def realized_closes(settings: Settings, offline: bool) -> AsyncIterator[MarketData]:
    """Where later closes come from: the offline CSV (every row of it) or Yahoo."""
    if offline:
        yield OfflineMarketData(settings.prices_csv)
        return
    async with httpx.AsyncClient() as http:
        yield YahooMarketData(
            http, url_template=settings.yahoo_chart_url, timeout_s=settings.yahoo_timeout_s
        )


async def score_accuracy(
    settings: Settings, store: Store, *, offline: bool, modes: tuple[Mode, ...] = ("live",)
) -> list[Score]:
    """Score the forecasts (of live runs unless ``modes`` says) whose target sessions have a
    final close now."""
    async with realized_closes(settings, offline) as market:
        return await score_pending(
            AccuracyLedger(store.engine), market, calendar_of(settings), modes=modes
        )


async def update_paper(
    settings: Settings,
    store: Store,
    *,
    offline: bool,
    until: date | None = None,
    modes: tuple[Mode, ...] = ("live",),
) -> list[str]:
    """Apply new runs (live unless ``modes`` says) and fill and mark them with bars up to
    ``until`` (default: the last final close)."""
    until = until or calendar_of(settings).last_closed_session(utc_now())
    async with realized_closes(settings, offline) as market:
        return await PaperAccount(store.engine, settings.paper).update(market, until, modes=modes)


async def after_run(settings: Settings, store: Store, *, offline: bool) -> None:
    """Both steps, each on its own: a failure is logged and never fails the slot. Offline
    slots are replays, and are tracked as such."""
    modes: tuple[Mode, ...] = ("replay",) if offline else ("live",)
    for name, step in (("accuracy", score_accuracy), ("paper", update_paper)):
        try:
            await step(settings, store, offline=offline, modes=modes)
        except Exception:
            log.exception("after the run: %s update failed", name)
