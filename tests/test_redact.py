"""One registry masks secrets in the httpx request log and in quoted error text."""

from __future__ import annotations

import logging

import pytest

from orchestrator.common.redact import redact, register


def test_registered_secrets_are_masked_in_text_and_httpx_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "https://hooks.example.test/services/T000/B000/abcdefghijklmnop"
    register(url)
    register("tok-redact-1234")
    assert redact(f"POST {url} failed; invalid token: Bearer tok-redact-1234") == (
        "POST *** failed; invalid token: Bearer ***"
    )
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 500"', url)
    assert url not in caplog.text and "***" in caplog.text
    assert redact("nothing secret here") == "nothing secret here"
