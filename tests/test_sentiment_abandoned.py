"""Issue 33 H2: work whose caller has left is not computed. A request's texts go to the batch
a chunk at a time; once the caller has closed its connection, the rest are never scored, and
``/describe`` counts them. Probes are answered at once afterwards."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import httpx
import pytest
from launching import wait_for

from serving.client import post
from serving.samples import headlines

pytestmark = pytest.mark.slow


def _queue(url: str) -> dict:
    return httpx.get(url + "/describe", timeout=30).json()["limits"]["queue"]


def test_the_texts_of_a_caller_that_left_are_never_scored(services):
    url = services.urls["sentiment"]
    text = " ".join(headlines())[:500]
    texts = [text] * 256
    body = json.dumps({"texts": texts}).encode()
    before = _queue(url)["abandoned_texts"]
    parsed = urlparse(url)
    head = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((parsed.hostname, parsed.port)) as sock:
        sock.sendall(head.encode() + body)
        # leave once the work has started (closing at once could drop the body unread)
        wait_for(lambda: _queue(url)["in_flight"] > 0, 120, "the work started")
    wait_for(lambda: _queue(url)["abandoned_texts"] > before, 120, "the rest abandoned")
    assert 0 < _queue(url)["abandoned_texts"] - before < len(texts)  # the first chunk ran
    probe = post(None, url + "/predict", json={"text": headlines()[0]}, timeout=30)
    assert probe.status_code == 200
