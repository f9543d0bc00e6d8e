"""Loopback stand-ins for the cloud services the orchestrator talks to, for its tests.

Each is a real HTTP server on 127.0.0.1 (a thread), replaying the wire formats of
``premarket.protocol``: a model service in the flat dialect (``POST /predict``) and the
ModelScope envelope (``POST /call``, ``POST /api/v1/models/{org}/{name}``), the Yahoo chart API
and RSS feed, and a recorder for Slack / JSON webhooks. Failure modes (status codes, garbage,
hanging) can be queued to test retries, breakers and fallbacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from premarket.protocol import (
    ForecastError,
    ForecastInput,
    ForecastResult,
    ModelScopeRequest,
    ModelScopeResponse,
    PriceForecast,
    ProtocolError,
    SentimentInput,
)
from premarket.settings import ChainSettings, Settings

POSITIVE = ("beat", "beats", "surge", "surges", "record", "rises", "soars", "gains", "upgrade")
NEGATIVE = ("miss", "misses", "falls", "drop", "drops", "plunge", "lawsuit", "cut", "downgrade")


def keyword_scores(text: str) -> dict:
    """A deterministic 3-class answer, sorted by score, highest first (ModelScope style)."""
    words = set(text.lower().replace(",", " ").replace(".", " ").split())
    pos, neg = len(words & set(POSITIVE)), len(words & set(NEGATIVE))
    if pos > neg:
        probs = {"positive": 0.9, "neutral": 0.07, "negative": 0.03}
    elif neg > pos:
        probs = {"negative": 0.85, "neutral": 0.1, "positive": 0.05}
    else:
        probs = {"neutral": 0.8, "positive": 0.1, "negative": 0.1}
    ordered = sorted(probs.items(), key=lambda kv: -kv[1])
    return {"labels": [k for k, _ in ordered], "scores": [v for _, v in ordered]}


class _Server:
    """A threaded loopback HTTP server whose handler calls ``self.handle``."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": raw,
                    }
                )
                status, body, ctype = outer.handle(self.command, self.path, raw)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = _serve

        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, Any, str]:
        raise NotImplementedError

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ModelStub(_Server):
    """A forecast or sentiment service in both dialects.

    ``faults`` is a queue of what the next requests get instead of an answer: an HTTP status
    (int), ``"garbage"`` (not JSON), ``"schema"`` (JSON of the wrong shape) or ``"hang"``.
    ``gate``, when set to a ``threading.Event``, holds every answer until the test sets it.
    """

    def __init__(
        self,
        kind: str,
        model_used: str = "TFT (Primary)",
        *,
        change: float = 0.01,
        confidence: float = 0.9,
    ) -> None:
        self.kind = kind
        self.model_used = model_used
        self.change = change
        self.confidence = confidence
        self.faults: list[Any] = []
        self.hang_s = 5.0
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()
        super().__init__()

    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, Any, str]:
        if self.gate is not None:
            self.gate.wait(timeout=60)
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
        if fault == "hang":
            time.sleep(self.hang_s)
        elif fault == "garbage":
            return 200, b"<html>gateway</html>", "text/html"
        elif fault == "schema":
            return 200, {"prediction": "up"}, "application/json"
        elif isinstance(fault, int):
            return fault, {"success": False, "error": f"injected {fault}"}, "application/json"
        envelope = path == "/call" or path.startswith("/api/v1/models/")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return 400, {"success": False, "error": "body: not JSON"}, "application/json"
        if envelope:
            request = ModelScopeRequest.model_validate(body)
            if request.input is None:
                return 400, _envelope(False, 400, "No input data!"), "application/json"
            status, data = self._answer(request.input)
            ok = status == 200
            return (
                status,
                _envelope(ok, status, "success" if ok else data["error"], data if ok else None),
                "application/json",
            )
        if path != "/predict":
            return 404, {"success": False, "error": "not found"}, "application/json"
        return (*self._answer(body), "application/json")

    def _answer(self, payload: Any) -> tuple[int, Any]:
        if self.kind == "sentiment":
            try:
                parsed = SentimentInput.parse(payload)
            except (ProtocolError, ValidationError) as exc:
                return 400, {"success": False, "error": str(exc).splitlines()[0]}
            answers = [keyword_scores(t) for t in parsed.texts]
            return 200, answers[0] if parsed.single else answers
        try:
            request = ForecastInput.model_validate(payload)
        except ValidationError as exc:
            err = exc.errors()[0]
            return 400, ForecastError(
                error=f"{'.'.join(map(str, err['loc']))}: {err['msg']}", required_minimum=2
            ).model_dump()
        last = request.sequence_data[-1][3]
        forecast = PriceForecast(
            current_price=last,
            forecast_path=[last * (1 + self.change) ** k for k in range(1, 6)],
            quantiles={"p10": last * 0.97, "p50": last * (1 + self.change), "p90": last * 1.04},
            confidence=self.confidence,
            model_version=f"stub-{self.kind}",
        )
        result = ForecastResult.build(
            forecast,
            symbol=request.symbol,
            model_used=self.model_used,
            inference_time_ms=1.0,
            request_id=request.request_id,
        )
        return 200, result.model_dump()


def _envelope(ok: bool, code: int, message: str, data: Any = None) -> dict:
    return ModelScopeResponse(
        Code=code, Success=ok, Message=message, RequestId="stub-1", Data=data
    ).model_dump()


class Recorder(_Server):
    """A Slack / webhook endpoint: records JSON bodies, answers ``statuses`` then 200 "ok"."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict] = []
        super().__init__()

    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, Any, str]:
        if self.statuses:
            return self.statuses.pop(0), b"error", "text/plain"
        self.received.append(json.loads(raw))
        return 200, b"ok", "text/plain"


class YahooStub(_Server):
    """The Yahoo chart API and RSS feed for a few symbols, in Yahoo's JSON and RSS 2.0."""

    def __init__(
        self,
        bars: dict[str, list[tuple]],
        rss: dict[str, str],
        mangle: dict[str, Callable[[dict], None]] | None = None,
    ) -> None:
        self.bars = bars  # symbol -> [(unix seconds, o, h, l, c, v) or with None prices]
        self.rss = rss
        self.mangle = mangle or {}  # symbol -> edits its chart result in place (malformed)
        super().__init__()

    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, Any, str]:
        from urllib.parse import parse_qs, urlparse

        parsed = urlparse(path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        if parsed.path.startswith("/v8/finance/chart/"):
            symbol = parsed.path.rsplit("/", 1)[1]
            if symbol not in self.bars:
                return (
                    404,
                    {
                        "chart": {
                            "result": None,
                            "error": {
                                "code": "Not Found",
                                "description": "No data found, symbol may be delisted",
                            },
                        }
                    },
                    "application/json",
                )
            lo, hi = int(query["period1"]), int(query["period2"])
            rows = [r for r in self.bars[symbol] if lo <= r[0] < hi]
            quote = {
                k: [r[i + 1] for r in rows]
                for i, k in enumerate(("open", "high", "low", "close", "volume"))
            }
            result = {
                "meta": {"symbol": symbol, "exchangeTimezoneName": "America/New_York"},
                "timestamp": [r[0] for r in rows],
                "indicators": {"quote": [quote], "adjclose": [{"adjclose": quote["close"]}]},
            }
            if symbol in self.mangle:
                self.mangle[symbol](result)
            return 200, {"chart": {"result": [result], "error": None}}, "application/json"
        if parsed.path == "/rss/2.0/headline":
            return 200, self.rss.get(query.get("s", ""), "").encode(), "application/rss+xml"
        return 404, {"error": "not found"}, "application/json"


def make_settings(
    tmp_path: Path, tft: str, nhits: str, sentiment: str, **overrides: Any
) -> Settings:
    """Settings for a test: the given service URLs, a SQLite file and state under tmp_path."""
    chain = {
        "retries": 1,
        "backoff_s": 0.01,
        "symbol_deadline_s": 10.0,
        **overrides.pop("chain", {}),
    }
    return Settings(
        tft={"url": tft, "timeout_s": 2.0},
        nhits={"url": nhits, "timeout_s": 2.0},
        sentiment={"url": sentiment, "timeout_s": 2.0},
        chain=ChainSettings(**chain),
        # The stub models' confidences are set for the original rule's thresholds (the job's
        # mechanics); the calibrated rule has its own tests (test_decision.py).
        signal={"mode": "original", **overrides.pop("signal", {})},
        database_url=f"sqlite:///{tmp_path / 'premarket.db'}",
        state_dir=tmp_path / "state",
        **overrides,
    )


DEAD_URL = "http://127.0.0.1:9"
"""The discard port: nothing listens on loopback, so connections are refused at once."""


@contextmanager
def model_stubs() -> Iterator[dict[str, ModelStub]]:
    """A TFT that answers UP with 0.99, an N-HITS that answers DOWN, and a sentiment service."""
    stubs = {
        "tft": ModelStub("forecast", "TFT (Primary)", change=0.02, confidence=0.99),
        "nhits": ModelStub("forecast", "N-HITS (Backup)", change=-0.01, confidence=0.7),
        "sentiment": ModelStub("sentiment"),
    }
    try:
        yield stubs
    finally:
        for stub in stubs.values():
            stub.stop()


ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """``premarket ARGS`` as a real process in ``tmp_path``: no config file, a SQLite store and a
    state folder of its own; ``env`` adds to (or overrides) that environment."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PREMARKET_CONFIG": "",
        "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PREMARKET_STATE_DIR": str(tmp_path / "state"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def chain_forecast(settings, bars, board=None):
    """One symbol through the real ``ForecastChain`` (a fresh breaker board unless given)."""
    import asyncio

    import httpx

    from orchestrator.forecast.breaker import BreakerBoard
    from orchestrator.forecast.chain import ForecastChain

    async def go():
        async with httpx.AsyncClient() as http:
            chain = ForecastChain(settings, http, board or BreakerBoard(settings))
            return await chain.forecast(bars)

    return asyncio.run(go())
