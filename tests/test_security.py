"""Security: the bearer token guards ``POST /analyze``; secrets never reach logs, results or error
messages; models load without unpickling anything; the results API listens on loopback only.

Real parts: ``premarket serve`` as a process on a free port, a real SQLite file, loopback
stand-ins for the model services, Slack and a JSON webhook, and an SMTP server (aiosmtpd) that
asks for a password and refuses it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from datetime import date
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from orchestrator_stubs import ModelStub, Recorder, make_settings
from pydantic import SecretStr

from orchestrator.jobs.analysis import run_analysis
from premarket.data import DEMO_AS_OF
from serving.launch import free_port

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date.fromisoformat(DEMO_AS_OF)

SECRETS = {
    "tft_token": "tok-TFT-5f2b9c41e7",
    "nhits_token": "tok-NHITS-0a8d3e6b52",
    "sentiment_token": "tok-SENT-c47e19ab03",
    "api_token": "tok-API-9e61b0d2f8",
    "slack_path": "/services/T0SEC/B0SEC/slackSecret7d1e",
    "webhook_path": "/hooks/webhookSecret3c9a",
    "smtp_password": "smtpPass-8b2f6e0c",
}


# --- POST /analyze and the listening address, against `premarket serve` --------------------


def serve(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    """``premarket serve`` on a free port; returns once it answers."""
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PREMARKET_CONFIG": "",
        "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "PREMARKET_STATE_DIR": str(tmp_path / "state"),
        "PREMARKET_API__PORT": str(port),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", "serve"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "premarket serve exited"
        try:
            httpx.get(f"http://127.0.0.1:{port}/results/latest", timeout=2)
            return proc, port
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("premarket serve did not start")


def listening_address(port: int) -> str:
    """The local address of the socket listening on TCP ``port`` (from /proc/net/tcp*)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                return address
    raise AssertionError(f"nothing listens on port {port}")


@pytest.mark.slow
def test_analyze_refuses_missing_and_wrong_tokens_and_listens_on_loopback(tmp_path):
    token = SECRETS["api_token"]
    proc, port = serve(tmp_path, PREMARKET_API__TOKEN=token)
    try:
        assert listening_address(port) == "0100007F"  # 127.0.0.1, not every interface
        url = f"http://127.0.0.1:{port}/analyze"
        refused = [
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {token}"},
            {"Authorization": f"Bearer {token}x"},
            {"Authorization": f"Bearer {token[:-1]}"},
            {"Authorization": "Bearer"},
        ]
        for headers in refused:
            response = httpx.post(url, json={"offline": True}, headers=headers, timeout=30)
            assert response.status_code == 401, (headers, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert response.json()["field"] == "Authorization"
            assert token not in response.text
        # Nothing ran; the right token gets past the check (to a 422 for a bad body).
        assert httpx.get(f"http://127.0.0.1:{port}/results/latest").status_code == 404
        good = {"Authorization": f"Bearer {token}"}
        response = httpx.post(url, json={"symbols": ["no such!"]}, headers=good, timeout=30)
        assert response.status_code == 422 and response.json()["field"] == "symbols"
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.slow
def test_the_api_listens_on_every_interface_only_when_configured(tmp_path):
    proc, port = serve(tmp_path, PREMARKET_API__HOST="0.0.0.0")
    try:
        assert listening_address(port) == "00000000"
    finally:
        proc.terminate()
        proc.wait(30)


# --- secrets in logs, results and error messages --------------------------------------------


class Echo(ModelStub):
    """A forecast endpoint that refuses the token and echoes it back in its error (some do)."""

    def handle(self, method: str, path: str, raw: bytes):
        auth = self.requests[-1]["headers"].get("Authorization", "")
        return 401, {"success": False, "error": f"invalid credentials: {auth}"}, "application/json"


class RefusingMailbox:
    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        return "250 OK"


def refuse_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=False, handled=False)


def test_secrets_never_reach_logs_results_or_error_messages(tmp_path, caplog, capfd):
    """Every authenticated target and alert channel fails, with logging at DEBUG everywhere."""
    echo = Echo("forecast")
    sentiment = ModelStub("sentiment")
    sentiment.faults = [500] * 10
    slack, hook = Recorder(statuses=[500] * 10), Recorder(statuses=[403] * 10)
    smtp = Controller(
        RefusingMailbox(),
        hostname="127.0.0.1",
        port=free_port(),
        auth_require_tls=False,
        authenticator=refuse_login,
    )
    smtp.start()
    try:
        settings = make_settings(
            tmp_path, echo.url, f"http://127.0.0.1:{free_port()}/api/v1/models/o/n", sentiment.url
        )
        settings.tft.token = SecretStr(SECRETS["tft_token"])
        settings.nhits.token = SecretStr(SECRETS["nhits_token"])
        settings.nhits.dialect = "modelscope"
        settings.sentiment.token = SecretStr(SECRETS["sentiment_token"])
        settings.api.token = SecretStr(SECRETS["api_token"])
        alerts = settings.alerts
        alerts.slack_webhook_url = SecretStr(slack.url + SECRETS["slack_path"])
        alerts.webhook_url = SecretStr(hook.url + SECRETS["webhook_path"])
        alerts.smtp_host, alerts.smtp_port = "127.0.0.1", smtp.port
        alerts.smtp_user, alerts.smtp_password = "desk", SecretStr(SECRETS["smtp_password"])
        alerts.email_to, alerts.backoff_s, alerts.confidence_threshold = ["d@x.org"], 0.01, 0.5
        caplog.set_level(logging.DEBUG)
        doc = asyncio.run(
            run_analysis(settings, symbols=["MSFT", "TSLA"], as_of=AS_OF, offline=True)
        ).to_document()
    finally:
        smtp.stop()
        for server in (echo, sentiment, slack, hook):
            server.stop()

    # The failures really happened, and reached every secret's owner.
    assert echo.requests[0]["headers"]["Authorization"] == f"Bearer {SECRETS['tft_token']}"
    assert sentiment.requests and slack.requests and hook.requests
    assert all(a["delivered"] == [] for a in doc["alerts"])
    assert set(doc["alerts"][0]["errors"]) == {"slack", "webhook", "email"}
    assert "invalid credentials: Bearer ***" in str(doc["trading_signals"]["MSFT"])

    out, err = capfd.readouterr()
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    places = {
        "logs": "\n".join(r.getMessage() for r in caplog.records) + caplog.text,
        "stdout/stderr": out + err,
        "result": json.dumps(doc),
        "database and state files": stored.decode("latin-1"),
    }
    assert "HTTP Request: POST" in places["logs"]  # httpx did log its requests
    for where, text in places.items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} leaked into the {where}"


# --- models are loaded without unpickling ---------------------------------------------------

PICKLE_EXTENSIONS = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib"}

LOAD_WITHOUT_PICKLE = textwrap.dedent(
    """
    import json, pickle, sys
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was about to be loaded")

    class Refused:
        def __init__(self, *args, **kwargs):
            refuse()

    pickle.load = pickle.loads = refuse
    pickle.Unpickler = Refused
    torch_load = torch.load
    def guarded(*args, **kwargs):
        if kwargs.get("weights_only") is not True:
            refuse()
        return torch_load(*args, **kwargs)
    torch.load = guarded

    from models.nhits.inference import NHitsForecaster
    from models.sentiment.default import load_default
    from models.store import path_of
    from models.tft.predictor import TFTPredictor
    from serving.samples import headlines, price_rows

    tags = json.loads(sys.argv[1])
    rows, _ = price_rows(count=120)
    nhits = NHitsForecaster.load(path_of(tags["nhits"]))
    tft = TFTPredictor.load(path_of(tags["tft"]))
    sentiment = load_default(tag=tags["sentiment"])
    assert sentiment.source != "lexicon", "the sentiment model did not load"
    nhits.forecast([[r[3] for r in rows]])
    tft.forecast([("AAPL", rows, None)])
    sentiment.predict(headlines(2))
    print("LOADED")
    """
)


@pytest.mark.slow
def test_models_are_stored_and_loaded_without_pickles(tiny_models):
    from models.store import path_of

    for tag in tiny_models.values():
        for path in path_of(tag).rglob("*"):
            if not path.is_file():
                continue
            assert path.suffix not in PICKLE_EXTENSIONS, path
            head = path.read_bytes()[:2]
            assert not (head[:1] == b"\x80" and 2 <= head[1:2][0] <= 5), f"{path} is a pickle"
            if zipfile.is_zipfile(path):  # torch.save's format: a zip holding data.pkl
                assert not any(n.endswith(".pkl") for n in zipfile.ZipFile(path).namelist())

    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PICKLE, json.dumps(tiny_models)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "LOADED" in result.stdout, result.stderr[-3000:]
