"""Facebook Messenger alerts, which Apprise does not cover: the Messenger Send API, directly.

The seeds name ``FACEBOOK_PAGE_TOKEN``; here it is ``PREMARKET_ALERTS__MESSENGER_PAGE_TOKEN``
(a Page access token, environment only), and each recipient is a page-scoped id (PSID) in
``alerts.messenger_recipients``. The Send API takes the token as the ``access_token`` query
parameter; the token is registered with ``common.redact``, so httpx's request log shows ``***``.
Messenger delivers ``UPDATE`` messages only to people who wrote to the page in the last 24 hours
(Meta's policy); outside that window the API answers 400, which the alert record shows.
"""

from __future__ import annotations

import httpx

from orchestrator.common.redact import register
from orchestrator.common.retry import CallError, kind_of_status
from orchestrator.notify.messages import Alert, body, title

MAX_TEXT = 2000  # the Send API's limit on a text message


class MessengerChannel:
    """One recipient of the page's messages: ``await channel(alert)`` or a ``CallError``."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, token: str, recipient: str, timeout_s: float
    ) -> None:
        register(token)
        self.http, self.url, self.token = http, url, token
        self.recipient, self.timeout_s = recipient, timeout_s

    async def __call__(self, alert: Alert) -> None:
        text = f"{title(alert)}\n\n{body(alert)}"
        payload = {
            "recipient": {"id": self.recipient},
            "messaging_type": "UPDATE",
            "message": {"text": text[: MAX_TEXT - 1] + "…" if len(text) > MAX_TEXT else text},
        }
        try:
            response = await self.http.post(
                self.url,
                params={"access_token": self.token},
                json=payload,
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise CallError("unreachable", f"messenger: {type(exc).__name__}") from None
        if response.is_error:
            raise CallError(
                kind_of_status(response.status_code),
                f"messenger: HTTP {response.status_code}",
                response.status_code,
            )


def messenger_channels(
    http: httpx.AsyncClient, url: str, token: str, recipients: list[str], timeout_s: float
) -> dict[str, MessengerChannel]:
    """A channel per recipient (``messenger``, then ``messenger#2`` ...), retried separately."""
    return {
        ("messenger" if i == 1 else f"messenger#{i}"): MessengerChannel(
            http, url, token, recipient, timeout_s
        )
        for i, recipient in enumerate(recipients, start=1)
    }
