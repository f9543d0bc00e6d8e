"""Secrets never leave the process as text: one registry of secret values, applied to the httpx
request log and to any text we quote from elsewhere.

httpx logs every request's URL at INFO, and a webhook URL is a secret (Slack's token is in its
path); a service may echo the credentials it refused ("invalid token: Bearer ..."). Whatever
holds a secret registers it here once, and both paths write ``***`` instead.
"""

from __future__ import annotations

import logging

import httpx

_secrets: set[str] = set()


def register(secret: str) -> None:
    """Mask ``secret`` (as given and, for a URL, as httpx writes it) from now on."""
    if not secret:
        return
    _secrets.add(secret)
    if secret.startswith(("http://", "https://")):
        _secrets.add(str(httpx.URL(secret)))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    if any(secret in text for secret in _secrets):
        for secret in sorted(_secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
    return text


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            masked = redact(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True


# Apprise, and urllib3 under it, log the URLs they post to (tokens in the path).
for _logger in ("httpx", "apprise", "urllib3.connectionpool"):
    logging.getLogger(_logger).addFilter(_RedactFilter())
