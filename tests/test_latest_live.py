""" "Latest" means the latest live run (issue 28, item 6): a replay started later never hides a
live morning; replays are shown when asked; a date's answer is its best complete run. Through
the real API and dashboard over a SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import run_documents as documents
from test_api import make_settings

from orchestrator.api.app import create_app
from orchestrator.api.browser import serving
from orchestrator.storage.store import Store


def stored(tmp_path: Path) -> tuple[object, Store]:
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    runs = [  # (run id, business date, started, status, mode)
        ("live_ok", "2024-07-02", "2024-07-02T10:30:00.000Z", "ok", "live"),
        ("live_partial", "2024-07-02", "2024-07-02T12:00:00.000Z", "partial", "live"),
        ("live_old", "2024-07-01", "2024-07-01T10:30:00.000Z", "ok", "live"),
        ("replay_later", "2022-09-21", "2024-07-02T15:00:00.000Z", "ok", "replay"),
    ]
    for run_id, day, started, status, mode in runs:
        run = documents.make_run(run_id, day, started, status=status)
        store.save_run(run.model_copy(update={"mode": mode, "offline": mode == "replay"}))
    return settings, store


@pytest.fixture
def api(tmp_path: Path):
    settings, store = stored(tmp_path)
    noon = lambda: datetime(2024, 7, 2, 16, 0, tzinfo=UTC)  # noqa: E731 - the API's clock
    with serving(create_app(settings, store=store, clock=noon)) as url:
        yield url
    store.close()


def test_latest_is_the_newest_live_run_of_the_newest_business_date(api: str) -> None:
    # the 12:00 run of the newest date was partial: its complete 10:30 run is the latest
    assert httpx.get(f"{api}/results/latest").json()["run_id"] == "live_ok"
    replay = httpx.get(f"{api}/results/latest", params={"replays": "true"}).json()
    assert replay["run_id"] == "replay_later" and replay["mode"] == "replay"
    recent = httpx.get(f"{api}/results/recent", params={"days": 7}).json()["runs"]
    assert {r["run_id"] for r in recent} == {"live_ok", "live_partial", "live_old"}


def test_a_date_answers_its_best_complete_run(api: str) -> None:
    # the 12:00 run was partial: the complete 10:30 run is the answer for that date
    answer = httpx.get(f"{api}/results", params={"date": "2024-07-02"}).json()
    assert answer["run_id"] == "live_ok"
    missing = httpx.get(f"{api}/results", params={"date": "2022-09-21"})
    assert missing.status_code == 404  # only a replay that day: asked for, it is there
    asked = httpx.get(f"{api}/results", params={"date": "2022-09-21", "replays": "true"})
    assert asked.json()["run_id"] == "replay_later"


def test_the_dashboard_shows_live_runs_with_a_toggle_for_replays(api: str) -> None:
    page = httpx.get(f"{api}/").text
    assert "Signals for <strong>2024-07-02</strong>" in page and 'data-mode="live"' in page
    assert 'href="/?replays=true"' in page
    replays = httpx.get(f"{api}/", params={"replays": "true"}).text
    assert "Signals for <strong>2022-09-21</strong>" in replays and 'data-mode="replay"' in replays


def test_a_store_of_replays_alone_shows_them(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        run = documents.make_run("demo", "2022-09-21", "2024-07-02T15:00:00.000Z")
        store.save_run(run.model_copy(update={"mode": "replay", "offline": True}))
        assert store.latest_run().run_id == "demo"  # a demo database still has a latest run
        assert store.latest_run(replays=False) is None
    finally:
        store.close()
