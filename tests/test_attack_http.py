"""Issue 33's HTTP findings on the services and the results API: unknown paths in the caller's
dialect (L3), one framing and a JSON body (L5), the header deadline for pipelined requests
(L1) and for the API (M5), /metrics labels (M9), a flood of one error as a few log lines (M5), and large run
documents built a few at a time (M4). L4 and M10 are in ``test_serving_guarded``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from raw_http import exchange
from run_documents import make_run, signal
from test_api import TOKEN, make_settings

from orchestrator.api import app as api_app
from orchestrator.api.app import create_app
from orchestrator.api.browser import serving
from orchestrator.storage.store import Store
from premarket.http_server import HeaderDeadline, RepeatFilter
from serving.launch import free_port
from serving.samples import forecast_body, headlines

ALL = ("tft", "nhits", "sentiment")


def _body_of(name: str) -> bytes:
    body = {"text": headlines()[0]} if name == "sentiment" else forecast_body("AAPL", 30)
    return json.dumps(body).encode()


# -- L3: a path no route serves is a JSON 404 in the caller's dialect -------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_unknown_paths_and_trailing_slashes_are_json_404s(services, name):
    url = services.urls[name]
    headers = {"Content-Type": "application/json"}
    for path in ("/nope", "/predict/"):
        flat = httpx.post(url + path, content=_body_of(name), headers=headers)
        assert flat.status_code == 404, flat.text  # not plain text, not a 307 to /predict
        assert flat.json()["success"] is False and flat.json()["field"] == "path"
    envelope = httpx.post(url + "/call/", content=b'{"input": {}}', headers=headers)
    assert envelope.status_code == 404
    assert envelope.json()["Code"] == 404 and envelope.json()["Data"]["field"] == "path"


# -- M9: /metrics labels routes, not paths ---------------------------------------------------


@pytest.mark.slow
def test_metrics_label_each_route_once_however_many_paths(services):
    url = services.urls["nhits"]
    envelope = json.dumps({"input": forecast_body("AAPL", 30)}).encode()
    headers = {"Content-Type": "application/json"}
    for i in range(40):
        sent = httpx.post(f"{url}/api/v1/models/acme/model{i}", content=envelope, headers=headers)
        assert sent.status_code == 200, sent.text
        httpx.post(f"{url}/nowhere{i}", content=envelope, headers=headers)
    text = httpx.get(url + "/metrics").text
    assert "model17" not in text and "nowhere17" not in text  # no series per path
    assert 'endpoint="/api/v1/models/{org}/{name}"' in text
    assert 'endpoint="(unrouted)"' in text


# -- L5: one framing, and a body declared as JSON ----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_double_framing_is_a_400_and_a_form_body_a_415(services, name):
    url = services.urls[name]
    body = _body_of(name)
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    head = (
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    status, _, answer = exchange(url, head.encode() + chunked).partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400"), status
    assert json.loads(answer)["field"] == "headers"
    for path, kind in (("/predict", "text/plain"), ("/call", "application/x-www-form-urlencoded")):
        content = body if path == "/predict" else b'{"input": ' + body + b"}"
        refused = httpx.post(url + path, content=content, headers={"Content-Type": kind})
        assert refused.status_code == 415, refused.text
        field = refused.json()["Data"]["field"] if path == "/call" else refused.json()["field"]
        assert field == "Content-Type"
    sent = httpx.post(url + "/predict", content=body, headers={"Content-Type": "application/json"})
    assert sent.status_code in (200, 503)


# -- L1: a pipelined request that runs long is not late ----------------------------------------


class _QuickDeadline(HeaderDeadline):
    timeout_s = 0.5


async def _app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(4 * _QuickDeadline.timeout_s)  # runs past the header deadline
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def test_a_pipelined_request_that_runs_long_gets_its_answer_not_a_408():
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=_QuickDeadline, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.02)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        two = b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        answer = exchange(url, two)  # then the idle connection is closed after its deadline
        assert answer.count(b"HTTP/1.1 200") == 2 and b"408" not in answer, answer
        assert exchange(url, b"") == b""  # idle: closed without an answer a client could misread
        late = exchange(url, b"GET /fast HTTP/1.1\r\nHost")  # headers that never complete
        assert late.startswith(b"HTTP/1.1 408") and json.loads(late.split(b"\r\n\r\n")[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- M5: the API's header and body deadlines, and a flood of one error -------------------------


@pytest.mark.slow
def test_the_api_cuts_off_slow_headers_and_bodies_with_408(tmp_path: Path):
    port = free_port()
    env = os.environ | {
        "PREMARKET_CONFIG": "",
        "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PREMARKET_STATE_DIR": str(tmp_path / "state"),
        "PREMARKET_API__PORT": str(port),
        "PREMARKET_API__TOKEN": TOKEN,
        "PREMARKET_API__READ_TIMEOUT_S": "1",
    }
    command = [sys.executable, "-m", "orchestrator.cli.main", "serve"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/health", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        head = exchange(url, b"GET /health HTTP/1.1\r\nHost: x\r\nAccept")
        status, _, answer = head.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 408") and json.loads(answer)["field"] == "headers"
        slow_body = (
            f"POST /analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"wait"'
        )
        status, _, answer = exchange(url, slow_body.encode()).partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 408") and json.loads(answer)["field"] == "body"
        assert httpx.get(url + "/health", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(10)


def test_a_flood_of_one_error_is_a_few_lines_that_count_the_rest():
    now = [0.0]
    flood = RepeatFilter(window_s=10.0, clock=lambda: now[0])
    error = OSError(24, "Too many open files")

    def record(msg: str = "socket.accept() out of system resource") -> logging.LogRecord:
        exc_info = (OSError, error, None)
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, (), exc_info)

    passed = [flood.filter(record()) for _ in range(100_000)]
    assert passed.count(True) == 1
    assert flood.filter(record("another error"))  # another kind has its own count
    now[0] = 10.5
    summary = record()
    assert (
        flood.filter(summary) and "99999 more like this in the 10 s since" in summary.getMessage()
    )
    now[0] = 3600.0
    assert flood.filter(record()) and not flood.filter(record())  # shown, then one left out
    now[0] = 7200.0  # an hour later the count says how long it covers
    late = record()
    assert flood.filter(late) and "1 more like this in the 3600 s since" in late.getMessage()
    quiet = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "GET /", (), None)
    assert all(flood.filter(quiet) for _ in range(3))  # information is never dropped
    from orchestrator.api.guard import access_log_config

    config = access_log_config()
    assert config["handlers"]["default"]["filters"] == ["repeats"]
    assert config["loggers"]["asyncio"]["handlers"] == ["default"]


# -- M4: a large run document is built a few at a time, straight from the model ----------------


def test_large_run_documents_are_built_a_few_at_a_time(tmp_path: Path, monkeypatch):
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    day = date(2022, 9, 21)
    signals = {f"S{i:04d}": signal(100.0 + i) for i in range(400)}
    stored = make_run("big", day.isoformat(), "2022-09-21T10:30:00+00:00", signals=signals)
    store.save_run(stored)
    busy, most, lock = [0], [0], threading.Lock()
    reached = threading.Event()
    read = store.run_for_date

    def counted(*args, **kwargs):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
            if busy[0] > api_app.DOCUMENTS_AT_ONCE:
                reached.set()
        reached.wait(0.3)  # give every request a chance to overlap; none may pass the cap
        try:
            return read(*args, **kwargs)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(store, "run_for_date", counted)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(settings, store=store))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.gather(*(client.get(f"/results?date={day}") for _ in range(12)))

    answers = asyncio.run(burst())
    assert all(a.status_code == 200 for a in answers)
    assert most[0] <= api_app.DOCUMENTS_AT_ONCE and not reached.is_set()
    assert json.loads(answers[0].content) == stored.to_document()
    store.close()


def test_api_refuses_two_tokens_and_double_framing(tmp_path: Path):
    settings = make_settings(tmp_path, api={"token": TOKEN})
    with serving(create_app(settings)) as url:
        for pair in ((f"Bearer {TOKEN}", "Bearer x"), ("Bearer x", f"Bearer {TOKEN}")):
            headers = [("Authorization", pair[0]), ("Authorization", pair[1])]
            answer = httpx.post(f"{url}/analyze", json={}, headers=headers)
            assert answer.status_code == 401 and answer.json()["field"] == "Authorization"
        head = (
            f"POST /analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        )
        status, _, body = exchange(url, head.encode()).partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 400"), status
        assert b'"field":"headers"' in body
        # on every route, before any token: a matter of the connection, not of /analyze
        head = (
            "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        )
        status, _, body = exchange(url, head.encode()).partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 400"), status
        assert b'"field":"headers"' in body
