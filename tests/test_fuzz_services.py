"""Hostile input against the three real ``bentoml serve`` processes (the session ``services``).

Hypothesis generates request bodies (a valid body with one field broken, arbitrary JSON, raw
bytes, deep nesting, lone surrogates, far dates, absurd magnitudes) and sends each in both
dialects. Over at least ``REQUESTS`` requests per
service: no answer is a 5xx, every 4xx is in the caller's dialect and names the field and the
problem (the field that was broken, where we know it), and every 200 is a valid answer. Oversize
bodies are refused from the headers alone, before the body is sent.
"""

from __future__ import annotations

import json
import math
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from premarket.protocol import (
    MAX_ROWS,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    ForecastResult,
    SentimentScores,
)
from serving.client import post
from serving.samples import forecast_body, headlines

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("PREMARKET_FUZZ_REQUESTS", "2000"))
"""Requests per service (each example is sent to every path, so examples = REQUESTS / paths)."""
PATHS = ("/predict", "/call", "/api/v1/models/premarket/fuzz")
FORECAST_FIELDS = ("symbol", "sequence_data", "dates", "request_id", "timestamp", "client_version")

# --- strategies -----------------------------------------------------------------------------

surrogates = st.tuples(
    st.text(max_size=8), st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2)
).map("".join)
"""Text with a lone surrogate: json.dumps sends it as a ``\\ud800`` escape."""
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    surrogates,
)
FAR_DATES = (date(9999, 12, 31), date(1, 1, 31), date(2262, 4, 30), date(1677, 9, 30))
"""Last days of windows beyond any calendar the models use (9999-12-31 once broke a batch)."""
ABSURD_FACTORS = (1e300, 1e-300, 1e12, 1e-12, 25.0, 1 / 25)
any_json = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)
odd_number = st.one_of(
    st.sampled_from([0.0, -1.0, -1e-9, 1e-300, 1e300, 1.7e308, 2**63, float("nan"), float("inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
)


@st.composite
def broken_forecast(draw: st.DrawFn, rows: int) -> tuple[str | None, Any]:
    """A real flat body with one field broken; returns (the field broken or None, body)."""
    body = forecast_body("AAPL", rows)
    field = draw(st.sampled_from((*FORECAST_FIELDS, "row", "value", "scale", "extra", "missing")))
    data = body["sequence_data"]
    if field == "scale":  # valid numbers, absurd magnitudes: from one row on, or one row alone
        i, factor = draw(st.integers(0, len(data) - 1)), draw(st.sampled_from(ABSURD_FACTORS))
        alone = draw(st.booleans())
        for k in range(i, i + 1 if alone else len(data)):
            data[k] = [
                *(x * factor for x in data[k][:4]),
                data[k][4] * draw(st.sampled_from((1, factor))),
            ]
        return "sequence_data", body
    if field == "row":  # one row of the wrong length or kind
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.one_of(st.lists(odd_number, max_size=7), any_json))
        return "sequence_data", body
    if field == "value":  # one number out of range, non-finite or of the wrong type
        i, j = draw(st.integers(0, len(data) - 1)), draw(st.integers(0, 4))
        data[i][j] = draw(odd_number)
        return "sequence_data", body
    if field == "extra":  # unknown fields are ignored: must still be a 200
        body.update(draw(st.dictionaries(st.text(min_size=1, max_size=10), any_json, max_size=3)))
        for name in FORECAST_FIELDS:
            body[name] = forecast_body("AAPL", rows).get(name)
        body.pop("dates")
        return None, body
    if field == "missing":
        name = draw(st.sampled_from(("symbol", "sequence_data")))
        del body[name]
        return name, body
    if field == "sequence_data":
        body[field] = draw(
            st.one_of(
                any_json,
                st.just([]),
                st.just(data[:1]),
                st.just(data * (MAX_ROWS // len(data) + 1)),
            )
        )
        return field, body
    if field == "symbol":
        body[field] = draw(st.one_of(st.text(max_size=40), any_json))
        return field, body
    if field == "dates" and draw(st.booleans()):  # consecutive days ending far away
        last = draw(st.sampled_from(FAR_DATES))
        body[field] = [
            (last - timedelta(days=len(data) - 1 - k)).isoformat() for k in range(len(data))
        ]
        return field, body
    if field == "dates":
        start = draw(st.dates())
        step = draw(st.sampled_from((-1, 0, 1, 2, 365)))
        count = draw(st.sampled_from((len(data), len(data) - 1, 1)))
        days = []
        for k in range(count):
            try:
                days.append(start.fromordinal(start.toordinal() + k * step).isoformat())
            except (ValueError, OverflowError):
                days.append("10000-01-01")
        body[field] = draw(st.one_of(st.just(days), any_json))
        return field, body
    body[field] = draw(st.one_of(st.text(min_size=65, max_size=300), surrogates, any_json))
    return field, body


def raw_bodies() -> st.SearchStrategy[tuple[str | None, bytes]]:
    """Bodies that are not JSON, or JSON in odd shapes: ``body`` is the field to name."""
    deep = st.integers(500, 120_000).map(lambda n: b"[" * n + b"]" * n)
    return st.one_of(
        st.binary(max_size=200).map(lambda b: ("body", b)),
        st.text(max_size=100).map(lambda t: ("body", t.encode("utf-8", "surrogatepass"))),
        st.integers(1, 300).map(lambda n: ("body", json.dumps(forecast_body())[:n].encode())),
        deep.map(lambda b: ("body", b)),
        deep.map(lambda b: (None, b'{"input": ' + b + b"}")),
        any_json.map(lambda v: (None, json.dumps(v).encode())),
    )


texts = st.one_of(
    st.text(max_size=60),
    surrogates,
    st.sampled_from(headlines()),
    st.just("x" * (MAX_TEXT_CHARS + 1)),
    st.just("   \n\t "),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40),
)
sentiment_payloads = st.one_of(
    texts,
    st.lists(texts, max_size=4),
    st.lists(st.just("ok"), min_size=MAX_TEXTS + 1, max_size=MAX_TEXTS + 1),
    st.fixed_dictionaries({"text": st.one_of(texts, st.lists(texts, max_size=3), any_json)}),
    st.fixed_dictionaries({"texts": st.one_of(st.lists(texts, max_size=3), any_json)}),
    any_json,
)

# --- checks ---------------------------------------------------------------------------------


def check_answer(response: httpx.Response, path: str, broken: str | None, service: str) -> None:
    """No 5xx; a 4xx in the caller's dialect naming the field; a 200 that is a valid answer."""
    status = response.status_code
    assert status < 500, f"{path} answered {status}: {response.text[:300]}"
    body = response.json()
    envelope = path != "/predict"
    if status == 200:
        data = body["Data"] if envelope else body
        if envelope:
            assert body["Success"] is True and body["Code"] == 200
        if service == "sentiment":
            for item in data if isinstance(data, list) else [data]:
                scores = SentimentScores.model_validate(item).scores
                assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3
        else:
            result = ForecastResult.model_validate(data)
            assert all(math.isfinite(p) and p > 0 for p in result.forecast_path)
            assert 0.0 <= result.confidence <= 1.0
        return
    assert 400 <= status < 500
    if envelope:
        assert body["Success"] is False and body["Code"] == status, body
        field, message = body["Data"]["field"], body["Message"]
        prefix = "input." if broken not in (None, "body") else ""
    else:
        assert body["success"] is False, body
        field, message = body["field"], body["error"]
        prefix = ""
    assert isinstance(field, str) and field and isinstance(message, str) and len(message) > 8
    assert field in message or message == "Insufficient sequence data", body
    if broken is not None:  # the field we broke, or the whole input naming it
        assert field.startswith((prefix + broken, broken)) or broken in message, (broken, body)


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=60, headers={"Content-Type": "application/json"}) as c:
        yield c


@pytest.fixture(scope="module")
def pool():
    """Each example goes to every path at once: the services batch them into one forward pass."""
    with ThreadPoolExecutor(len(PATHS)) as executor:
        yield executor


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def send_all(
    client: httpx.Client, pool: ThreadPoolExecutor, url: str, contents: dict[str, bytes]
) -> dict[str, httpx.Response]:
    """POST each path's body, concurrently (a busy service's 503 waited out as it asks); the
    answers by path."""
    futures = {p: pool.submit(post, client, url + p, content=c) for p, c in contents.items()}
    return {p: f.result() for p, f in futures.items()}


def envelope_of(payload: Any) -> bytes:
    return json.dumps({"input": payload, "parameters": {}}).encode()


@pytest.mark.parametrize("name", ["tft", "nhits"])
def test_fuzzed_forecast_requests_never_5xx_and_name_the_field(services, client, pool, name):
    url = services.urls[name]
    rows = max(30, client.get(url + "/describe").json()["limits"]["min_rows"])
    sent = []

    @fuzz_settings(REQUESTS // len(PATHS) + 1)
    @given(st.one_of(broken_forecast(rows), raw_bodies()))
    def one(case: tuple[str | None, Any]) -> None:
        broken, body = case
        contents, expected = {}, {}
        for path in PATHS:
            if isinstance(body, bytes):  # inside an envelope it is the envelope that breaks
                contents[path] = body if path == "/predict" else b'{"input": ' + body + b"}"
                expected[path] = broken if path == "/predict" else None
            else:
                flat = path == "/predict"
                contents[path] = json.dumps(body).encode() if flat else envelope_of(body)
                expected[path] = broken
        for path, response in send_all(client, pool, url, contents).items():
            sent.append(path)
            check_answer(response, path, expected[path], name)

    one()
    assert len(sent) >= REQUESTS


def test_fuzzed_sentiment_requests_never_5xx_and_name_the_field(services, client, pool):
    url = services.urls["sentiment"]
    sent = []

    @fuzz_settings(REQUESTS // len(PATHS) + 1)
    @given(st.one_of(sentiment_payloads.map(lambda p: ("payload", p)), raw_bodies()))
    def one(case: tuple[str | None, Any]) -> None:
        kind, body = case
        contents = {}
        for path in PATHS:
            if kind == "payload":
                flat = path == "/predict"
                contents[path] = json.dumps(body).encode() if flat else envelope_of(body)
            else:
                contents[path] = body if path == "/predict" else b'{"input": ' + body + b"}"
        for path, response in send_all(client, pool, url, contents).items():
            sent.append(path)
            check_answer(response, path, None, "sentiment")

    one()
    assert len(sent) >= REQUESTS


@pytest.mark.parametrize("name", ["tft", "nhits", "sentiment"])
@pytest.mark.parametrize("path", ["/predict", "/call"])
def test_an_oversize_body_is_refused_from_its_headers_alone(services, name, path):
    """The server answers 413 before a byte of the body arrives: nothing is buffered or parsed."""
    parsed = urlparse(services.urls[name])
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    body = json.loads(payload[payload.index(b"{") :])
    if path == "/predict":
        assert body["success"] is False and body["field"] == "body"
        assert "500000000 bytes" in body["error"]
    else:
        assert body["Code"] == 413 and body["Data"]["field"] == "body"
