"""Findings of the second attack (issue 33) fixed so far: each through the real services or API.

M7: an integer literal past Python's 4,300-digit conversion limit was a 500 on all three
services; L2: 60,000 nested ``[`` in a ``POST /analyze`` body with a valid token was a 500.
"""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest
from test_api import make_settings

from orchestrator.api.app import create_app
from serving.client import post

TOKEN = "t" * 32


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("name", ["tft", "nhits", "sentiment"])
def test_a_huge_integer_literal_is_a_400_naming_the_body(services, name):
    body = b'{"input": ' + b"9" * 5000 + b"}"
    for path in ("/predict", "/call"):
        answer = post(None, services.urls[name] + path, content=body, timeout=30, headers=JSON)
        assert answer.status_code == 400, answer.text
        assert "cannot be read" in answer.text and "4300 digits" in answer.text


def test_a_deeply_nested_analyze_body_is_a_422(tmp_path):
    settings = make_settings(tmp_path, api={"token": TOKEN})

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(
                "/analyze",
                content=b"[" * 60_000,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )

    answer = asyncio.run(send())
    assert answer.status_code == 422 and "nested too deeply" in answer.json()["error"]


@pytest.mark.parametrize(
    ("path", "method", "body", "why"),
    [
        ("/analyze", "post", {"as_of": "1999-06-01"}, "before 2000-01-03"),
        ("/analyze", "post", {"as_of": "9999-12-30"}, "after today"),
        ("/analyze", "post", {"as_of": "2199-12-31"}, "after today"),
        ("/accuracy?as_of=1999-12-31&replays=true", "get", None, "before 2000-01-03"),
        ("/accuracy?as_of=2262-04-10", "get", None, "after today"),
    ],
)
def test_dates_outside_the_calendar_are_refused_by_name(tmp_path, path, method, body, why):
    """M6, M8: one rule for the CLI and the API; nothing stored, nothing computed."""
    settings = make_settings(tmp_path, api={"token": TOKEN})

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            if method == "post":
                return await client.post(path, json=body, headers=headers)
            return await client.get(path)

    answer = asyncio.run(send())
    assert answer.status_code == 422 and answer.json()["field"] == "as_of", answer.text
    assert why in answer.json()["error"]


def test_the_cli_refuses_the_same_dates(tmp_path, monkeypatch, capsys):
    from orchestrator.cli.main import main

    monkeypatch.setenv("PREMARKET_DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    assert main(["analyze", "--offline", "--as-of", "1999-12-31"]) == 2
    assert "--as-of: 1999-12-31 is before 2000-01-03" in capsys.readouterr().err
    assert main(["replay", "--until", "2199-12-31"]) == 2
    assert "after today" in capsys.readouterr().err
    assert not (tmp_path / "p.db").exists()


def _set(path: tuple, value):
    def mangle(result: dict) -> None:
        target = result
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mangle


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: r["timestamp"].__setitem__(-1, 1e20),  # OverflowError
        lambda r: r["indicators"]["quote"][0]["close"].__setitem__(-1, "abc"),
        _set(("meta", "exchangeTimezoneName"), "../../../../etc/passwd"),
        _set(("meta",), ["a", "list"]),
        lambda r: r["indicators"]["quote"][0]["open"].__setitem__(-1, [1.0, 2.0]),
    ],
    ids=["timestamp 1e20", "close abc", "zone a path", "meta a list", "a list for a price"],
)
def test_one_malformed_symbol_fails_alone_in_a_live_run(tmp_path, mangle):
    """H3: one symbol's malformed chart answer fails that symbol only (status partial)."""
    from datetime import UTC, datetime, timedelta

    from orchestrator_stubs import DEAD_URL, YahooStub, make_settings

    from orchestrator.jobs.analysis import run_analysis

    day = datetime.now(UTC).date() - timedelta(days=1)
    stamp = int(datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC).timestamp())
    rows = [
        (stamp - k * 86400, 100 + k * 0.1, 101 + k * 0.1, 99 + k * 0.1, 100.2 + k * 0.1, 1e6)
        for k in range(90, 0, -1)
    ]
    yahoo = YahooStub({"GOOD": rows, "BAD": rows}, {}, mangle={"BAD": mangle})
    try:
        settings = make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL)
        settings.yahoo_chart_url = yahoo.url + "/v8/finance/chart/{symbol}"
        settings.yahoo_rss_url = yahoo.url + "/rss/2.0/headline"
        result = asyncio.run(run_analysis(settings, symbols=["GOOD", "BAD"]))
    finally:
        yahoo.stop()
    assert result.status == "partial" and list(result.signals) == ["GOOD"]
    (error,) = [e for e in result.errors if e.symbol == "BAD"]
    assert error.stage == "market_data" and error.error.startswith("BAD: Yahoo chart answer")


class _Drip:
    """A server that answers every request with headers, then one byte every 0.2 s, forever
    (until the client hangs up). A POST first looks in the store for ``run_id`` rows."""

    def __init__(self, database) -> None:
        import sqlite3
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.stored_when_alerted: list[int] = []
        stop = self.stop_event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _drip(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                while not stop.is_set():
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return
                    stop.wait(0.2)

            def do_GET(self) -> None:
                self._drip()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sqlite3.connect(database) as db:
                    outer.stored_when_alerted.append(
                        db.execute("select count(*) from runs").fetchone()[0]
                    )
                self._drip()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop_event.set()
        self.server.shutdown()


def test_dripping_upstreams_and_webhook_end_in_time_and_the_run_is_stored_first(tmp_path):
    """H4: a chart API, an RSS feed and a webhook that send a byte every 0.2 s: the run ends
    (each call has a whole-call deadline), and it was stored before the alert went out."""
    from orchestrator_stubs import DEAD_URL, make_settings
    from pydantic import SecretStr

    from orchestrator.jobs.analysis import run_analysis
    from orchestrator.storage.store import Store

    database = tmp_path / "drip.db"
    Store(f"sqlite:///{database}").close()  # the schema, so the webhook can look
    drip = _Drip(database)
    try:
        settings = make_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL)
        settings.database_url = f"sqlite:///{database}"
        settings.yahoo_chart_url = drip.url + "/v8/finance/chart/{symbol}"
        settings.yahoo_rss_url = drip.url + "/rss"
        settings.alerts.webhook_url = SecretStr(drip.url + "/hook")
        settings.alerts.timeout_s, settings.alerts.tries = 1.0, 1
        settings.yahoo_timeout_s = 1.5
        result = asyncio.run(run_analysis(settings, symbols=["DRIP"]))
    finally:
        drip.close()
    assert result.status == "failed"
    assert any("sent no complete answer within 1.5 s" in e.error for e in result.errors)
    (failed,) = [a for a in result.alerts if a.level == "RUN_FAILED"]
    assert failed.delivered == [] and "no complete answer within 1 s" in failed.errors["webhook"]
    assert drip.stored_when_alerted and all(n == 1 for n in drip.stored_when_alerted)
    store = Store(settings.database_url)
    stored = store.run_for_date(result.business_date)
    store.close()
    assert stored is not None and stored.alerts and stored.alerts[0].level == "RUN_FAILED"


def test_a_store_that_cannot_be_opened_still_sends_run_failed(tmp_path):
    """M1: the database cannot be opened (its folder is a file): the run says so and the
    RUN_FAILED alert still goes out; a URL that is no database URL is refused at load."""
    from orchestrator_stubs import DEAD_URL, Recorder
    from orchestrator_stubs import make_settings as stub_settings
    from pydantic import SecretStr

    from orchestrator.jobs.analysis import run_analysis
    from premarket.settings import Settings

    (tmp_path / "blocked").write_text("a file where the database's folder should be")
    hook = Recorder()
    try:
        settings = stub_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL)
        settings.database_url = f"sqlite:///{tmp_path / 'blocked' / 'p.db'}"
        settings.alerts.webhook_url = SecretStr(hook.url + "/hook")
        result = asyncio.run(
            run_analysis(settings, symbols=["MSFT"], as_of=date(2022, 9, 20), offline=True)
        )
    finally:
        hook.stop()
    assert result.status == "failed" and any(e.stage == "store" for e in result.errors)
    (alert,) = [a for a in result.alerts if a.level == "RUN_FAILED"]
    assert alert.delivered == ["webhook"] and hook.received
    with pytest.raises(ValueError, match="not a database URL"):
        Settings(database_url="notaurl")


def test_run_errors_name_a_price_file_without_its_folders(tmp_path):
    """L10: errors stored with a run (and served by /results) hold no absolute path."""
    from orchestrator_stubs import DEAD_URL
    from orchestrator_stubs import make_settings as stub_settings

    from orchestrator.jobs.analysis import run_analysis

    broken = tmp_path / "deep" / "folder" / "prices.csv"
    broken.parent.mkdir(parents=True)
    broken.write_text("symbol,date,open,high,low,close,volume\nMSFT,2022-09-20,1,1,1,x,1\n")
    settings = stub_settings(tmp_path, DEAD_URL, DEAD_URL, DEAD_URL)
    settings.prices_csv = broken
    result = asyncio.run(run_analysis(settings, symbols=["MSFT"], offline=True))
    text = " ".join(e.error for e in result.errors)
    assert result.status == "failed" and "prices.csv" in text and str(tmp_path) not in text


def test_feed_text_loses_control_and_bidi_override_characters():
    """L8, L11: a ``\\x01`` (here an escaped one in the HTML description) and a right-to-left
    override never reach the sentiment request, the store or the page."""
    from orchestrator.data.news import parse_rss

    feed = (
        "<rss><channel><item><title>ACME \u202eevil\u202c rises</title>"
        "<description>Up &amp;#1; today &lt;b&gt;sharply&lt;/b&gt;</description>"
        "<pubDate>Mon, 01 Jul 2024 10:00:00 +0000</pubDate></item></channel></rss>"
    )
    (article,) = parse_rss(feed)
    assert article.title == "ACME evil rises" and article.summary == "Up today sharply"
    assert all(c.isprintable() for c in article.text(500, "title_summary"))


def test_many_concurrent_health_requests_share_a_few_probes(tmp_path):
    """M3: 300 concurrent ``GET /health`` all see a healthy target ready (they used to time out
    on 900 probes), and within one probe's lifetime each target is probed once (a clock that
    does not move stands for "within ``PROBE_TTL_S``")."""
    from orchestrator_stubs import _Server

    from orchestrator.api.probes import Probes
    from premarket.settings import Target

    class Ready(_Server):
        def handle(self, method: str, path: str, raw: bytes):
            return 200, b"ok", "text/plain"

    ready = Ready()  # every target: GET /readyz answers 200
    try:
        settings = make_settings(
            tmp_path, tft={"url": ready.url}, nhits={"url": ready.url}, sentiment={"url": ready.url}
        )

        async def burst() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=create_app(settings))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await asyncio.gather(*(client.get("/health") for _ in range(300)))

        answers = asyncio.run(burst())
        assert all(a.status_code == 200 for a in answers)
        assert all(t["ready"] for a in answers for t in a.json()["targets"].values())

        before = len(ready.requests)

        async def shared() -> list[dict]:
            async with httpx.AsyncClient() as client:
                probes = Probes(client, clock=lambda: 0.0)
                target = Target(url=ready.url)
                names = ("tft", "nhits", "sentiment") * 100
                return await asyncio.gather(*(probes.of(n, target) for n in names))

        found = asyncio.run(shared())
    finally:
        ready.stop()
    assert all(f["ready"] for f in found)
    assert len(ready.requests) - before == 3  # one per target, for 300 asks
