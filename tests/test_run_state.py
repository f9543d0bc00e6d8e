"""Broken state and slow parts around the run (issue 17, items 5-9): an edited breaker file, a
read-only store with alert channels, dead alert channels, a stalled disk under the API, and
requests the API must refuse before reading them."""

from __future__ import annotations

import fcntl
import json
import logging
import re
import socket
import subprocess
import threading
from pathlib import Path

import httpx
import orchestrator_stubs as stubs
import pytest
from orchestrator_stubs import DEAD_URL, Recorder, make_settings
from test_api import TOKEN, serving

from orchestrator.api.app import create_app
from orchestrator.api.guard import QueryRedactor, access_log_config
from orchestrator.documents.run import RunResult
from orchestrator.forecast.breaker import FILE_NAME, BreakerBoard
from orchestrator.storage.store import Store
from premarket.data import DEMO_AS_OF

ROOT = Path(__file__).resolve().parents[1]


# --- item 5: the breaker file ---------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"failures": "abc"},
        {"failures": None},
        {"opened_at": "yesterday", "state": "open"},
        {"state": "bogus"},
        {"state": "open", "opened_at": 1e308},
    ],
)
def test_an_edited_breaker_entry_starts_closed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, entry: dict
) -> None:
    settings = make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL)
    path = settings.state_dir / FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"tft": {"url": settings.tft.url, **entry}}))
    with caplog.at_level(logging.WARNING, logger="orchestrator.forecast.breaker"):
        board = BreakerBoard(settings)
    assert board["tft"].state == "closed" and board["tft"].failures == 0
    assert board["tft"].allow()
    assert any(
        "tft." in r.getMessage() and "starts closed" in r.getMessage() for r in caplog.records
    )
    board["tft"].record_success()
    board.save()
    saved = json.loads(path.read_text())["tft"]
    assert saved["state"] == "closed" and saved["opened_at"] is None  # the bad entry is gone
    assert sorted(p.name for p in path.parent.iterdir()) == [FILE_NAME, FILE_NAME + ".lock"]


def test_two_runs_saving_keep_each_others_records(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL)
    first, second = BreakerBoard(settings), BreakerBoard(settings)  # two overlapping runs
    first["tft"].record_failure("tft: down")
    second["sentiment"].record_failure("sentiment: down")
    first.save()
    second.save()  # used to overwrite the first run's tft failure with its own stale copy
    board = BreakerBoard(settings)
    assert board["tft"].failures == 1 and board["sentiment"].failures == 1


def test_saving_waits_for_another_process_holding_the_lock(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL)
    board = BreakerBoard(settings)
    board["nhits"].record_failure("nhits: down")
    settings.state_dir.mkdir(parents=True)
    with open(settings.state_dir / (FILE_NAME + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as another process would
        saver = threading.Thread(target=board.save)
        saver.start()
        saver.join(0.3)
        assert saver.is_alive() and not (settings.state_dir / FILE_NAME).exists()
    saver.join(30)
    assert BreakerBoard(settings)["nhits"].failures == 1


# --- items 6 and 7: the store and the alert channels fail ------------------------------------


def run_cli(tmp_path: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    """The CLI with every model service dead and quick, single-try alerts."""
    dead = {f"PREMARKET_{name}__URL": DEAD_URL for name in ("TFT", "NHITS", "SENTIMENT")}
    quick = {
        "PREMARKET_CHAIN__RETRIES": "0",
        "PREMARKET_ALERTS__BACKOFF_S": "0.01",
        "PREMARKET_ALERTS__TRIES": "1",
    }
    return stubs.run_cli(tmp_path, *args, env={**dead, **quick, **env})


ANALYZE = ("analyze", "--offline", "--as-of", DEMO_AS_OF, "--symbols", "MSFT", "ZZZZ")


def test_a_read_only_store_still_sends_alerts_and_writes_the_json(tmp_path: Path) -> None:
    db = tmp_path / "premarket.db"
    Store(f"sqlite:///{db}").close()
    slack = Recorder()
    try:
        result = run_cli(
            tmp_path,
            *ANALYZE,
            "--json",
            "run.json",
            env={
                "PREMARKET_DATABASE_URL": f"sqlite:///file:{db}?mode=ro&uri=true",
                "PREMARKET_ALERTS__SLACK_WEBHOOK_URL": slack.url + "/hook",
            },
        )
    finally:
        slack.stop()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["status"] == "failed"
    assert any(e["stage"] == "store" and "readonly" in e["error"] for e in doc["errors"])
    sent = json.dumps(slack.received)
    assert "Pre-market run" in sent and "failed" in sent  # RUN_FAILED went out
    assert "ZZZZ" in sent  # and the alerts claimed before the store failed went out too


def test_failed_alert_delivery_is_counted_and_reported(tmp_path: Path) -> None:
    dead = Recorder(statuses=[404] * 50)
    try:
        result = run_cli(
            tmp_path,
            *ANALYZE,
            "--json",
            "run.json",
            env={
                "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
                "PREMARKET_ALERTS__SLACK_WEBHOOK_URL": dead.url + "/gone",
            },
        )
    finally:
        dead.stop()
    counts = re.search(r"(\d+) sent, (\d+) failed", result.stderr)
    assert counts and counts.group(1) == "0" and int(counts.group(2)) >= 1, result.stderr
    assert "slack: HTTP 404" in result.stderr
    assert f"alerts: {counts.group(0)}" in result.stdout  # the table's summary says it too
    doc = json.loads((tmp_path / "run.json").read_text())
    assert any(e["stage"] == "alerts" and "slack: HTTP 404" in e["error"] for e in doc["errors"])


# --- item 8: nothing blocks the event loop ---------------------------------------------------


class StalledStore(Store):
    """A real store whose run write stalls until released, as a locked or slow disk does."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.entered, self.release = threading.Event(), threading.Event()

    def save_run(self, result: RunResult) -> None:
        self.entered.set()
        self.release.wait()
        super().save_run(result)


def test_health_answers_while_a_run_waits_on_the_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL, api={"token": TOKEN})
    store = StalledStore(settings.database_url)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"wait": False, "offline": True, "as_of": DEMO_AS_OF, "symbols": ["MSFT"]}
    try:
        with serving(create_app(settings, store=store)) as url:
            assert httpx.post(f"{url}/analyze", json=body, headers=auth).status_code == 202
            assert store.entered.wait(120)  # the run is inside its store write now
            # The write stays stalled until released, so an answer at all proves the event loop
            # is free: no clock needed (measured here: 48-80 ms while the write waits).
            with httpx.Client(timeout=30) as client:
                for _ in range(3):
                    health = client.get(f"{url}/health")
                    assert health.json()["run_in_progress"] is True
            assert not store.release.is_set()
            store.release.set()
    finally:
        store.release.set()
        store.close()


# --- item 9: the results API refuses before it reads -----------------------------------------


def raw_post(url: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """A POST whose declared length need not match what is sent: the answer must come anyway."""
    host, port = url.removeprefix("http://").split(":")
    lines = ["POST /analyze HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)  # a server waiting for the body times this out
            if not chunk:
                break
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def test_the_api_checks_the_token_and_the_size_before_reading_the_body(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL, api={"token": TOKEN})
    huge = {"Content-Length": str(100 * 2**20)}  # 100 MB declared, 5 bytes sent
    with serving(create_app(settings)) as url:
        status, answer = raw_post(url, huge, b'{"sym')
        assert status == 401 and answer["field"] == "Authorization"
        status, answer = raw_post(url, {**huge, "Authorization": f"Bearer {TOKEN}"}, b'{"sym')
        assert status == 413 and answer["field"] == "body"

        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        plain = httpx.post(  # a browser's "simple" cross-origin POST (issue 33 L5)
            f"{url}/analyze",
            content=b'{"wait": true}',
            headers={**auth, "Content-Type": "text/plain"},
        )
        assert plain.status_code == 415 and plain.json()["field"] == "Content-Type"
        bad = httpx.post(f"{url}/analyze", content=b'{"symbols": ["AAPL"],', headers=auth)
        assert bad.status_code == 422 and bad.json()["field"] == "body"
        assert "not valid JSON" in bad.json()["error"]
        typo = httpx.post(f"{url}/analyze", json={"symbol": ["AAPL"]}, headers=auth)
        assert typo.status_code == 422 and typo.json()["field"] == "symbol"


def test_the_access_log_leaves_query_values_out() -> None:
    assert access_log_config()["handlers"]["access"]["filters"] == ["no_query"]
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/results?token=s3cret&date=2024-01-02", "1.1", 200),
        None,
    )
    assert QueryRedactor().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line and "/results?token=-&date=-" in line
