"""Issue 33 H2: work whose caller has left is not computed. A request's texts go to the batch
a chunk at a time; once the caller has closed its connection, the rest are never scored, and
``/describe`` counts them. Probes are answered at once afterwards. The end-to-end test needs
the model to take longer than one ``/describe`` poll per chunk (true on CPU hosts); the rule
itself is also checked with no server and no clock."""

from __future__ import annotations

import asyncio
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


def test_classify_stops_before_the_next_chunk_once_the_caller_left():
    """The same rule without a server or a clock: the caller is there for the first check and
    gone at the second, so exactly two chunks are scored and the rest is counted."""
    from types import SimpleNamespace

    from serving.runtime import CallerGone
    from serving.sentiment_service import CHUNK, SentimentService

    sent: list[int] = []

    async def classify_batch(texts: list[str]) -> list[dict]:
        sent.append(len(texts))
        return [{"labels": ["neutral"], "scores": [1.0], "source": "lexicon"}] * len(texts)

    service = SimpleNamespace(
        abandoned_texts=0,
        chars_scored=lambda: None,
        to_async=SimpleNamespace(classify_batch=classify_batch),
    )
    answers = iter([False, True])

    async def gone() -> bool:
        return next(answers)

    texts = ["x"] * (3 * CHUNK + 4)
    with pytest.raises(CallerGone):
        asyncio.run(SentimentService.inner.classify(service, texts, gone=gone))
    assert sent == [CHUNK, CHUNK]
    assert service.abandoned_texts == len(texts) - 2 * CHUNK
