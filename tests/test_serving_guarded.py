"""Services started on purpose with something wrong or locked, each as its own ``bentoml serve``:

- N-HITS with a NaN injected into one weight (a copy of the tiny model in the test store): never
  ready, and it says why without showing a filesystem path;
- sentiment with a truncated weights file, a bearer token and 2-second read timeouts: the word
  list answers and says so, every model route needs the token (the service's own batching
  calls included), and a slow body or slow headers are cut off with 408. A pre-market run
  against it sends the token, names the lexicon as the news source and raises one alert.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pytest
from orchestrator_stubs import make_settings
from pydantic import SecretStr
from raw_http import exchange

from models import store
from models.sentiment.lexicon import LexiconClassifier
from orchestrator.jobs.analysis import run_analysis
from premarket.data import DEMO_AS_OF
from serving.client import post
from serving.launch import ServiceFailed, ServiceProcess, free_port
from serving.samples import forecast_body, headlines

pytestmark = pytest.mark.slow

TOKEN = "s3cret-guarded-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STORE = os.environ["BENTOML_HOME"]


def _copy(tag: str, name: str, tmp: Path, spoil) -> str:
    """Save a spoiled copy of the stored model ``tag`` as ``name``; return its tag."""
    folder = store.export(tag, tmp / name)
    spoil(folder)
    return store.save(name, folder, metadata=store.metadata_of(tag))


def _nan_in_first_weight(folder: Path) -> None:
    with np.load(folder / "weights.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["block0.layer0.weight"] = arrays["block0.layer0.weight"].copy()
    arrays["block0.layer0.weight"].flat[0] = np.nan
    np.savez(folder / "weights.npz", **arrays)


def _truncate_weights(folder: Path) -> None:
    for weights in folder.rglob("*.safetensors"):
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


@pytest.fixture(scope="module")
def corrupt_nhits(tiny_models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corrupt")
    tag = _copy(tiny_models["nhits"], "nhits-corrupt", tmp, _nan_in_first_weight)
    proc = ServiceProcess(
        "nhits", free_port(), env={**os.environ, "PREMARKET_SERVICE_NHITS_TAG": tag}, log_dir=tmp
    )
    proc.start()
    try:
        with pytest.raises(ServiceFailed, match="not finite") as failed:
            proc.wait_ready(timeout=180)
        yield proc, str(failed.value)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def guarded_sentiment(tiny_models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guarded")
    tag = _copy(tiny_models["sentiment"], "sentiment-truncated", tmp, _truncate_weights)
    env = {
        **os.environ,
        "PREMARKET_SERVICE_SENTIMENT_TAG": tag,
        "PREMARKET_SERVICE_TOKEN": TOKEN,
        "PREMARKET_SERVICE_READ_TIMEOUT_S": "2",
        "PREMARKET_SERVICE_QUEUE_CAPACITY": "4000",  # tokens of work (a small host's queue)
    }
    proc = ServiceProcess("sentiment", free_port(), env=env, log_dir=tmp)
    proc.start()
    try:
        proc.wait_ready(timeout=240)
        yield proc
    finally:
        proc.stop()


# -- corrupt weights: not ready, reason given, no path ----------------------------------------


def test_corrupt_weights_are_never_ready_and_say_why(corrupt_nhits):
    proc, failure = corrupt_nhits
    assert "the warm-up forecast is not finite" in failure
    assert httpx.get(proc.url + "/readyz").status_code == 503
    described = httpx.get(proc.url + "/describe").json()["model"]
    assert described["state"] == "failed"
    assert described["error"].startswith("ModelFault: the warm-up forecast is not finite")
    health = httpx.get(proc.url + "/health")
    assert health.status_code == 503 and health.json()["status"] == "failed"
    for path in ("/predict", "/call"):
        body = forecast_body("AAPL", 30) if path == "/predict" else {"input": forecast_body()}
        response = post(None, proc.url + path, json=body)
        assert response.status_code == 503
        assert "Retry-After" not in response.headers  # failed to load: retrying will not help
        assert "not finite" in response.text
        assert STORE not in response.text and STORE not in json.dumps(described)


# -- the lexicon fallback is visible ----------------------------------------------------------


def test_the_lexicon_fallback_is_degraded_and_says_why(guarded_sentiment):
    url = guarded_sentiment.url
    assert httpx.get(url + "/readyz").status_code == 200  # it answers: see /health
    model = httpx.get(url + "/describe").json()["model"]
    assert (model["source"], model["state"]) == ("lexicon", "degraded")
    assert model["error"].startswith("the lexicon fallback answers: sentiment model")
    assert STORE not in model["error"]
    health = httpx.get(url + "/health")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["model"]["error"] == model["error"]
    answer = post(None, url + "/call", json={"input": headlines()[:2]}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert {item["source"] for item in answer.json()["Data"]} == {"lexicon"}


# -- the bearer token -------------------------------------------------------------------------


def test_model_routes_need_the_token_and_probes_do_not(guarded_sentiment):
    url = guarded_sentiment.url
    body = {"text": headlines()[0]}
    wrong = {"Authorization": "Bearer not-the-token"}
    for headers in ({}, wrong, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
        flat = post(None, url + "/predict", json=body, headers=headers)
        assert flat.status_code == 401, flat.text
        assert flat.json()["field"] == "authorization" and TOKEN not in flat.text
        assert flat.headers["WWW-Authenticate"] == "Bearer"
        envelope = post(None, url + "/call", json={"input": body}, headers=headers)
        assert envelope.status_code == 401 and envelope.json()["Code"] == 401
        batch = post(None, url + "/classify_batch", json={"texts": ["x"]}, headers=headers)
        assert batch.status_code == 401
    # With the token, the route's own internal batch call gets through too.
    assert post(None, url + "/predict", json=body, headers=AUTH).status_code == 200
    assert post(None, url + "/classify_batch", json={"texts": ["x"]}, headers=AUTH).is_success
    for probe in ("/livez", "/readyz", "/health", "/describe"):
        assert httpx.get(url + probe).status_code == 200, probe
    # /metrics names every path and caller pattern it saw: the token guards it (issue 33 M9)
    assert httpx.get(url + "/metrics").status_code == 401
    assert httpx.get(url + "/metrics", headers=AUTH).status_code == 200


# -- read timeouts ----------------------------------------------------------------------------


def test_a_body_that_trickles_in_is_cut_off_with_408(guarded_sentiment):
    url = guarded_sentiment.url
    head = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    answer = exchange(url, head.encode() + b'{"text": ')  # 9 of 100 bytes, then silence
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408"), answer
    refused = json.loads(body)
    assert refused["field"] == "body" and "did not arrive within 2 s" in refused["error"]


def test_headers_that_trickle_in_are_cut_off_with_408(guarded_sentiment):
    answer = exchange(guarded_sentiment.url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-")
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body)["field"] == "headers"


# -- the orchestrator against it: token sent, lexicon named, base rate, one alert ---------


def test_a_run_names_the_lexicon_and_alerts_once(guarded_sentiment, services, tmp_path):
    urls = services.urls
    settings = make_settings(tmp_path, urls["tft"], urls["nhits"], guarded_sentiment.url)
    settings.sentiment.token = SecretStr(TOKEN)
    settings.sentiment.timeout_s = 30.0
    settings.signal.mode = "calibrated"  # the bundled decision model was fitted on model scores
    run = asyncio.run(
        run_analysis(
            settings,
            symbols=["MSFT", "TSLA"],
            as_of=date.fromisoformat(DEMO_AS_OF),
            offline=True,
        )
    )
    doc = run.to_document()
    for symbol in ("MSFT", "TSLA"):
        signal = doc["trading_signals"][symbol]
        news = signal["components"]["sentiment_analysis"]
        assert news["source"] == "lexicon" and news["article_count"] > 0
        # the decision model was fitted on the model's scores, not the word list's
        assert not signal["calibrated"] and signal["action"] == "HOLD NEUTRAL"
        assert "lexicon fallback" in signal["uncalibrated_reason"]
    levels = [a["level"] for a in doc["alerts"]]
    assert levels.count("UNCALIBRATED") == 1 and "SENTIMENT_DEGRADED" not in levels
    (alert,) = [a for a in doc["alerts"] if a["level"] == "UNCALIBRATED"]
    assert "MSFT, TSLA: news scored by the lexicon fallback" in alert["message"]
    assert TOKEN not in json.dumps(doc)


# -- work the service could never do in time: 413 before it starts (issue 29) -----------------


def test_a_request_beyond_the_queue_is_refused_before_any_work(guarded_sentiment):
    url = guarded_sentiment.url
    describe = httpx.get(url + "/describe").json()["limits"]
    assert describe["queue"]["capacity"] == 4000 and describe["queue"]["unit"] == "tokens"
    big = ["Shares of the company rose after results beat estimates. " * 18] * 64
    refused = post(None, url + "/call", json={"input": big}, headers=AUTH)
    assert refused.status_code == 413, refused.text
    message = refused.json()["Message"]
    assert "tokens of work" in message and "at most 3,800 at once" in message
    small = post(None, url + "/call", json={"input": big[:2]}, headers=AUTH)
    assert small.status_code == 200, small.text


# -- issue 33 L4 and M10: one token header; the batch route in the same queue -----------------


def test_two_authorization_headers_are_refused_whichever_comes_first(guarded_sentiment):
    url = guarded_sentiment.url + "/predict"
    body = {"text": headlines()[0]}
    for first, second in ((f"Bearer {TOKEN}", "Bearer wrong"), ("Bearer wrong", f"Bearer {TOKEN}")):
        headers = [("Authorization", first), ("Authorization", second)]
        answer = httpx.post(url, json=body, headers=headers, timeout=30)
        assert answer.status_code == 401, answer.text
        assert answer.json()["field"] == "authorization"
    assert post(None, url, json=body, headers=AUTH, timeout=30).status_code == 200


def test_a_direct_batch_call_is_weighed_by_the_same_queue(guarded_sentiment):
    url = guarded_sentiment.url + "/classify_batch"
    described = httpx.get(guarded_sentiment.url + "/describe").json()["limits"]
    largest = described["queue"]["capacity"] - described["queue"]["reserve"]
    texts = [("Shares of the company rose after earnings beat estimates. " * 7)[:400]] * 256
    big = httpx.post(url, json={"texts": texts}, headers=AUTH, timeout=60)
    assert big.status_code == 413, big.text  # more tokens of work than the whole queue
    assert big.json()["field"] == "body" and f"at most {largest:,}" in big.json()["error"]
    small = post(None, url, json={"texts": texts[:2]}, headers=AUTH, timeout=60)
    assert small.status_code == 200 and len(small.json()) == 2


def test_work_the_route_admitted_is_not_counted_again_on_its_way_to_the_batch(guarded_sentiment):
    """More than half the queue in one request: counted twice (the route, then the service's
    own call of the batch route) it could never be admitted."""
    described = httpx.get(guarded_sentiment.url + "/describe").json()
    assert described["model"]["source"] == "lexicon"  # the units below are the word list's
    largest = described["limits"]["queue"]["capacity"] - described["limits"]["queue"]["reserve"]
    text = ("Shares of the company rose after earnings beat estimates. " * 20)[:1000]
    count = largest // 2 // LexiconClassifier().work_of([text]) + 1  # just over half the queue
    answer = post(None, guarded_sentiment.url + "/predict", json={"texts": [text] * count},
                  headers=AUTH, timeout=60)  # fmt: skip
    assert answer.status_code == 200, answer.text
