"""No blocking work on the event loop (issue 27.12): while a price file or the headline sets are
parsed for a run started by ``POST /analyze``, or a dashboard view is computed, ``/health``
answers; a slot's claim waits on the store without stopping the loop.

Each blocking step is *held* (it waits on an event the test sets only after ``/health`` has
answered), so the tests need no clock: on code that runs the step on the loop, ``/health`` gets
no answer while the step is held, and the test fails at the bound.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from datetime import date
from pathlib import Path

import httpx
import pytest
from test_api import make_settings

from orchestrator.api.app import create_app
from orchestrator.api.browser import serving
from orchestrator.data import market, news
from orchestrator.jobs.schedule import run_slot_once
from orchestrator.storage.store import Store
from premarket.data import PRICES_CSV

TOKEN = "t" * 32
BOUND_S = 60.0
"""Only a failure waits this long: the held step is released as soon as /health answers."""


class Held:
    """Wraps a blocking function: each call says it started, then waits to be released."""

    def __init__(self, function) -> None:
        self.function = function
        self.entered = threading.Event()
        self.released = threading.Event()

    def __call__(self, *args, **kwargs):
        self.entered.set()
        if not self.released.wait(BOUND_S):
            raise TimeoutError("held step never released")
        return self.function(*args, **kwargs)


def _health_answers_while_held(url: str, held: Held) -> None:
    assert held.entered.wait(BOUND_S), "the held step never started"
    try:
        health = httpx.get(f"{url}/health", timeout=BOUND_S / 2)
        assert health.status_code == 200 and not held.released.is_set()
    finally:
        held.released.set()


def _wait_for_the_run(url: str) -> None:
    with httpx.Client(base_url=url, timeout=BOUND_S) as client:
        for _ in range(int(BOUND_S * 10)):
            if not client.get("/health").json()["run_in_progress"]:
                return
            threading.Event().wait(0.1)  # a condition poll, bounded; no assertion on time
    raise AssertionError("the run never finished")


@pytest.mark.parametrize("step", ["price file", "headline sets"])
def test_health_answers_while_a_run_parses_its_files(tmp_path: Path, monkeypatch, step) -> None:
    prices = tmp_path / "prices.csv"  # a file of its own: the parse is not already cached
    shutil.copy(PRICES_CSV, prices)
    if step == "price file":
        held = Held(market.read_prices)
        monkeypatch.setattr(market, "read_prices", held)
    else:
        news._general_headlines.cache_clear()
        held = Held(news._general_headlines)
        monkeypatch.setattr(news, "_general_headlines", held)
    settings = make_settings(tmp_path, api={"token": TOKEN}, prices_csv=prices)
    with serving(create_app(settings)) as url:
        started = httpx.post(
            f"{url}/analyze",
            json={"offline": True, "as_of": "2022-09-15", "symbols": ["MSFT"], "wait": False},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert started.status_code == 202
        _health_answers_while_held(url, held)
        _wait_for_the_run(url)
        latest = httpx.get(f"{url}/results/latest", params={"replays": "true"}).json()
    assert latest["trading_signals"]["MSFT"]["success"]


def test_health_answers_while_the_dashboard_is_computed(tmp_path: Path, monkeypatch) -> None:
    from orchestrator.api import dashboard

    real = dashboard.dashboard_view
    held = Held(lambda: None)

    async def blocking_view(*args, **kwargs):
        held()  # blocking work, as the store reads are
        return await real(*args, **kwargs)

    monkeypatch.setattr(dashboard, "dashboard_view", blocking_view)
    settings = make_settings(tmp_path)
    with serving(create_app(settings)) as url:
        page: dict = {}
        viewer = threading.Thread(
            target=lambda: page.update(answer=httpx.get(url + "/", timeout=BOUND_S))
        )
        viewer.start()
        _health_answers_while_held(url, held)
        viewer.join(BOUND_S)
    assert page["answer"].status_code == 200 and "premarket" in page["answer"].text


def test_a_slot_claim_waits_off_the_loop(tmp_path: Path) -> None:
    """The claim is held until another coroutine of the same loop runs: only possible when the
    claim does not hold the loop."""
    from orchestrator.data.calendar import TradingCalendar

    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    (slot,) = TradingCalendar().slots_on(date(2024, 7, 5), ["06:30"])
    claims = store.slot_claims
    held = Held(claims.claim)

    class HeldClaims:
        def __getattr__(self, name):
            return held if name == "claim" else getattr(claims, name)

    class Ledger:
        slot_claims = HeldClaims()
        has_run_for_slot = staticmethod(store.has_run_for_slot)

    ran: list = []

    async def runner(s) -> None:
        ran.append(s)

    async def on_the_same_loop() -> None:
        await asyncio.to_thread(held.entered.wait, BOUND_S)
        held.released.set()

    async def both():
        return await asyncio.gather(
            run_slot_once(slot, Ledger(), runner, set()), on_the_same_loop()
        )

    outcome, _ = asyncio.run(both())
    store.close()
    assert outcome == "ran" and ran == [slot]
