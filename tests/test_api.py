"""The results API over real HTTP: uvicorn on a free loopback port, a real SQLite store."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from run_documents import make_run

from orchestrator.api.app import create_app
from orchestrator.api.browser import serving
from orchestrator.documents.run import RunResult
from orchestrator.forecast.breaker import BreakerBoard
from orchestrator.storage.store import Store
from premarket.settings import Settings, load_settings
from serving.launch import free_port

TOKEN = "s3cret-token-for-tests"


@contextmanager
def ready_service() -> Iterator[str]:
    """A real HTTP server that answers ``/readyz`` like a ready BentoML service."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200 if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_settings(tmp_path: Path, **overrides) -> Settings:
    """Settings with a private store and state, and model targets on a closed port."""
    dead = f"http://127.0.0.1:{free_port()}"
    values = {
        "database_url": f"sqlite:///{tmp_path / 'premarket.db'}",
        "state_dir": tmp_path / "state",
        "tft": {"url": dead},
        "nhits": {"url": dead},
        "sentiment": {"url": dead},
        "chain": {"retries": 0},
    }
    values.update(overrides)
    return Settings(**values)


def stored_doc(
    run_id: str, business_date: str, timestamp: str, slot: str | None = None
) -> RunResult:
    """A minimal run as ``run_analysis`` stores it (no analysed symbols)."""
    return make_run(run_id, business_date, timestamp, slot=slot, signals={}, as_of=None)


@pytest.fixture
def settings_with_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> Settings:
    monkeypatch.setenv("PREMARKET_API__TOKEN", TOKEN)
    base = make_settings(tmp_path, database_url=database_url)
    settings = load_settings(
        **{k: getattr(base, k) for k in ("database_url", "state_dir", "tft", "nhits", "sentiment")},
        chain={"retries": 0},
    )
    assert settings.api.token.get_secret_value() == TOKEN  # from the environment
    return settings


@pytest.mark.slow
def test_analyze_needs_the_bearer_token_then_runs_and_stores(settings_with_token) -> None:
    with serving(create_app(settings_with_token)) as url:
        body = {"symbols": ["AAPL"], "as_of": "2022-09-20", "offline": True}
        missing = httpx.post(f"{url}/analyze", json=body)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "token" in missing.json()["error"]
        for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer"):
            wrong = httpx.post(f"{url}/analyze", json=body, headers={"Authorization": header})
            assert wrong.status_code == 401, header
        assert httpx.get(f"{url}/results/latest").status_code == 404  # nothing ran

        ok = httpx.post(
            f"{url}/analyze", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        assert ok.status_code == 200
        doc = ok.json()
        assert doc["business_date"] == "2022-09-21"  # the session after the as-of date
        assert doc["trading_signals"]["AAPL"]["success"] is True
        assert TOKEN not in ok.text

        by_date = httpx.get(f"{url}/results", params={"date": "2022-09-21"}).json()
        assert by_date["run_id"] == doc["run_id"]
        assert httpx.get(f"{url}/results/latest").json()["run_id"] == doc["run_id"]
        health = httpx.get(f"{url}/health").json()
        assert health["last_run"]["run_id"] == doc["run_id"]


def test_analyze_is_disabled_without_a_configured_token(tmp_path: Path) -> None:
    with serving(create_app(make_settings(tmp_path))) as url:
        answer = httpx.post(f"{url}/analyze", headers={"Authorization": "Bearer anything"})
        assert answer.status_code == 503
        assert "PREMARKET_API__TOKEN" in answer.json()["error"]


def test_analyze_rejects_a_bad_body_naming_the_field(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api={"token": TOKEN})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serving(create_app(settings)) as url:
        bad_symbol = httpx.post(
            f"{url}/analyze", json={"symbols": ["AAPL", "no way"]}, headers=auth
        )
        assert bad_symbol.status_code == 422 and bad_symbol.json()["field"] == "symbols"
        bad_date = httpx.post(f"{url}/analyze", json={"as_of": "20-09-2022"}, headers=auth)
        assert bad_date.status_code == 422 and bad_date.json()["field"] == "as_of"


def test_a_second_run_while_one_is_in_progress_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api={"token": TOKEN})
    release = asyncio.Event()

    async def slow_runner(_request) -> dict:
        await release.wait()
        return {}

    app = create_app(settings, runner=slow_runner)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serving(app) as url:
        started = httpx.post(f"{url}/analyze", json={"wait": False}, headers=auth)
        assert started.status_code == 202
        again = httpx.post(f"{url}/analyze", json={"wait": False}, headers=auth)
        assert again.status_code == 409
        assert httpx.get(f"{url}/health").json()["run_in_progress"] is True


def test_results_default_to_the_new_york_date_around_midnight_utc(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=database_url)
    store = Store(settings.database_url)
    store.save_run(stored_doc("run_a", "2024-03-14", "2024-03-14T10:30:00.000Z", "06:30"))
    store.save_run(stored_doc("run_b", "2024-03-15", "2024-03-15T10:30:00.000Z", "06:30"))
    now = [datetime(2024, 3, 15, 3, 59, tzinfo=UTC)]  # 23:59 on the 14th in New York (EDT)
    with serving(create_app(settings, store=store, clock=lambda: now[0])) as url:
        assert httpx.get(f"{url}/results").json()["run_id"] == "run_a"
        now[0] = datetime(2024, 3, 15, 4, 0, tzinfo=UTC)  # midnight in New York
        assert httpx.get(f"{url}/results").json()["run_id"] == "run_b"
        now[0] = datetime(2024, 3, 16, 1, 0, tzinfo=UTC)  # still the 15th in New York
        assert httpx.get(f"{url}/results").json()["run_id"] == "run_b"
        assert httpx.get(f"{url}/health").json()["business_date"] == "2024-03-15"
        recent = httpx.get(f"{url}/results/recent", params={"days": 2}).json()
        assert [r["run_id"] for r in recent["runs"]] == ["run_b", "run_a"]


def test_missing_and_malformed_dates(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url=database_url)
    with serving(create_app(settings, clock=lambda: datetime(2024, 7, 4, 12, tzinfo=UTC))) as url:
        none = httpx.get(f"{url}/results")
        assert none.status_code == 404
        assert none.json() == {
            "error": "no run for New York business date 2024-07-04",
            "date": "2024-07-04",
        }
        for bad in ("2024-13-01", "2024-02-30", "yesterday", "20240704"):
            answer = httpx.get(f"{url}/results", params={"date": bad})
            assert answer.status_code == 422, bad
            assert answer.json()["field"] == "date" and "date" in answer.json()["error"]
        assert httpx.get(f"{url}/accuracy", params={"as_of": "soon"}).json()["field"] == "as_of"
        assert httpx.get(f"{url}/results/recent", params={"days": 0}).status_code == 422
        assert httpx.get(f"{url}/nowhere").json() == {"error": "Not Found"}


def test_health_reports_reachability_breakers_and_docs(tmp_path: Path) -> None:
    with ready_service() as ready:
        settings = make_settings(
            tmp_path,
            tft={"url": ready},
            sentiment={"url": ready, "dialect": "modelscope"},
            cost={"call_usd": {"sentiment": 0.001}},
        )
        board = BreakerBoard(settings)
        for _ in range(settings.chain.breaker_failures):
            board["nhits"].record_failure("nhits: cannot connect")
        board.save()
        with serving(create_app(settings)) as url:
            health = httpx.get(f"{url}/health").json()
            docs = httpx.get(f"{url}/docs")
            spec = httpx.get(f"{url}/openapi.json").json()
    assert health["status"] == "degraded"
    assert health["version"]
    assert health["last_run"] is None
    tft, nhits = health["targets"]["tft"], health["targets"]["nhits"]
    assert (tft["reachable"], tft["ready"], tft["breaker"]) == (True, True, "closed")
    assert (nhits["reachable"], nhits["ready"], nhits["breaker"]) == (False, False, "open")
    sentiment = health["targets"]["sentiment"]  # ModelScope takes POSTs only: a 404 to GET is there
    assert (sentiment["reachable"], sentiment["ready"], sentiment["status_code"]) == (
        True,
        True,
        404,
    )
    assert date.fromisoformat(health["business_date"])
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert {"/health", "/analyze", "/results", "/results/latest", "/accuracy"} <= set(spec["paths"])


@pytest.mark.slow
def test_serve_command_listens_on_the_configured_port(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    port = free_port()
    env = os.environ | {
        "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PREMARKET_STATE_DIR": str(tmp_path / "state"),
        "PREMARKET_API__PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "premarket serve did not start"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["last_run"] is None
        modules = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, orchestrator.api.app, orchestrator.api.client, orchestrator.jobs.schedule,"
                " orchestrator.tracking.paper, orchestrator.tracking.accuracy, orchestrator.jobs.upkeep;"
                " print(sorted({'torch', 'transformers', 'bentoml'} & set(sys.modules)))",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert modules.stdout.strip() == "[]"  # the orchestrator stays thin
    finally:
        server.terminate()
        server.wait(10)
