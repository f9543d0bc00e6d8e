"""The local client against a real results API (uvicorn on loopback, SQLite store)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from run_documents import make_run, signal
from test_api import TOKEN, make_settings, serving, stored_doc

from orchestrator.api.app import create_app
from orchestrator.api.client import NotFound, PremarketClient, Unauthorized, Unreachable
from orchestrator.documents.run import RunResult
from orchestrator.storage.store import Store
from orchestrator.tracking.paper_account import PaperAccount
from serving.launch import free_port


def signal_doc(run_id: str, day: str, timestamp: str, price: float) -> RunResult:
    """A stored run with one tradable AAPL signal (the shape ``run_analysis`` writes)."""
    aapl = signal(price, action="BUY STRONG", confidence=0.8, data_as_of=day)
    return make_run(run_id, day, timestamp, slot=None, signals={"AAPL": aapl}, as_of=None)


@pytest.fixture
def api(tmp_path: Path):
    settings = make_settings(tmp_path, api={"token": TOKEN})
    store = Store(settings.database_url)

    async def runner(request) -> RunResult:
        doc = stored_doc("run_manual", "2024-07-05", "2024-07-05T12:00:00.000Z")
        store.save_run(doc)
        return doc

    clock = lambda: datetime(2024, 7, 5, 14, 0, tzinfo=UTC)  # noqa: E731
    with serving(create_app(settings, store=store, runner=runner, clock=clock)) as url:
        yield url, store, settings


def test_reads_and_not_found(api) -> None:
    url, store, _ = api
    with PremarketClient(url) as client:
        with pytest.raises(NotFound, match="no run has been stored yet"):
            client.get_latest_analysis()
        store.save_run(stored_doc("run_1", "2024-07-03", "2024-07-03T10:30:00.000Z"))
        assert client.get_latest_analysis().run_id == "run_1"
        assert client.get_latest_analysis(date(2024, 7, 3)).run_id == "run_1"
        with pytest.raises(NotFound, match="2024-07-04"):
            client.get_latest_analysis("2024-07-04")
        assert client.health()["last_run"]["run_id"] == "run_1"
        assert client.accuracy()["rows"] == []


def test_trigger_needs_the_token(api) -> None:
    url, _, settings = api
    with (
        PremarketClient(url) as anonymous,
        pytest.raises(Unauthorized, match="PREMARKET_API__TOKEN"),
    ):
        anonymous.trigger_analysis()
    with PremarketClient(url, token="wrong") as wrong, pytest.raises(Unauthorized):
        wrong.trigger_analysis()
    with PremarketClient(url, token=TOKEN) as client:
        assert client.trigger_analysis().run_id == "run_manual"
        assert client.get_latest_analysis().run_id == "run_manual"


def test_unreachable_server_is_a_clear_error() -> None:
    client = PremarketClient(f"http://127.0.0.1:{free_port()}")
    with client, pytest.raises(Unreachable, match="premarket serve"):
        client.health()


def test_monitor_calls_back_once_per_new_run(api) -> None:
    url, store, _ = api
    seen: list[str] = []
    arrivals = iter(
        [stored_doc("run_2", "2024-07-05", "2024-07-05T11:00:00.000Z")]
    )  # a run that lands while monitoring

    def on_new_run(doc: dict) -> None:
        seen.append(doc.run_id)
        next_run = next(arrivals, None)
        if next_run is not None:
            store.save_run(next_run)

    with PremarketClient(url) as client:
        found_nothing = client.monitor(0.0, on_new_run, checks=2)  # no run yet: logged, polled
        assert found_nothing == 0
        store.save_run(stored_doc("run_1", "2024-07-05", "2024-07-05T10:30:00.000Z"))
        found = client.monitor(0.01, on_new_run, checks=4)
    assert found == 2 and seen == ["run_1", "run_2"]


def test_recent_and_paper_sync(api) -> None:
    url, store, settings = api
    store.save_run(signal_doc("run_1", "2024-07-03", "2024-07-03T10:30:00.000Z", 100.0))
    store.save_run(signal_doc("run_2", "2024-07-05", "2024-07-05T10:30:00.000Z", 104.0))
    account = PaperAccount(store.engine, settings.paper)
    with PremarketClient(url) as client:
        assert [r.run_id for r in client.recent(days=5)] == ["run_2", "run_1"]
        events = client.sync_with_paper_trading(account)
        assert events == ["queued LONG AAPL for the open of 2024-07-05"]  # fills at the open
        assert client.sync_with_paper_trading(account) == []  # a run is applied once
    book = account.load()
    assert book.positions == {} and book.applied_runs == {"run_2"}
    assert book.pending["AAPL"].action == "LONG"


def test_from_settings_targets_the_configured_api_with_its_token(api) -> None:
    url, _, settings = api
    port = int(url.rsplit(":", 1)[1])
    configured = settings.model_copy(update={"api": settings.api.model_copy(update={"port": port})})
    with PremarketClient.from_settings(configured) as client:
        assert client.base_url == f"http://{settings.api.host}:{port}"
        assert client.trigger_analysis().run_id == "run_manual"
