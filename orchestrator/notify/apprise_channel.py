"""Alert channels through Apprise: one channel per configured Apprise URL.

Apprise (https://github.com/caronc/apprise) speaks 100+ services from one URL each: Slack
(``slack://TokenA/TokenB/TokenC``), email (``mailto://user:pass@host``), LINE
(``line://ChannelAccessToken/UserID``), Telegram (``tgram://BotToken/ChatID``), Discord
(``discord://WebhookID/WebhookToken``) and more. The URLs hold credentials: they come from the
environment only (``PREMARKET_ALERTS__APPRISE_URLS``), and each URL and its tokens are registered
with ``common.redact`` so that neither our logs nor Apprise's quote them. A channel is named
after its scheme (``apprise:slack``), never its URL.

Apprise is imported only when a URL is configured: loading its plugins takes about a second.
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote, urlsplit

from orchestrator.common.redact import register
from orchestrator.common.retry import CallError
from orchestrator.notify.messages import Alert, body, notify_type, title
from premarket.sections import split_urls

TOKEN_CHARS = 8  # a URL part this long and without a dot is taken for a credential


def register_url(url: str) -> None:
    """Mask the URL and the credentials inside it (Apprise rebuilds URLs from the tokens)."""
    register(url)
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]  # as written (hostname lowers it)
    candidates = [parts.username or "", parts.password or "", host]
    candidates += parts.path.split("/")
    for part in map(unquote, candidates):
        if len(part) >= TOKEN_CHARS and "." not in part and "@" not in part:
            register(part)
    if parts.password:
        register(unquote(parts.password))


class AppriseChannel:
    """One Apprise URL as an alert channel: ``await channel(alert)`` or a ``CallError``."""

    def __init__(self, url: str, timeout_s: float) -> None:
        import apprise

        register_url(url)
        asset = apprise.AppriseAsset(app_id="premarket", app_desc="premarket alerts")
        self.apprise = apprise.Apprise(asset=asset)
        scheme = url.split("://", 1)[0].lower() if "://" in url else "unknown"
        self.name = f"apprise:{scheme}"
        # A URL Apprise cannot use fails each alert with this (the run goes on, and says so).
        self.unusable = None if self.apprise.add(url) else f"{self.name}: Apprise cannot use it"
        for service in self.apprise:
            service.socket_read_timeout = service.socket_connect_timeout = timeout_s

    async def __call__(self, alert: Alert) -> None:
        if self.unusable:
            raise CallError("rejected", self.unusable)
        sent = await asyncio.to_thread(
            self.apprise.notify,
            body=body(alert),
            title=title(alert),
            notify_type=notify_type(alert),
        )
        if not sent:  # Apprise says only that it failed (its log says why, redacted)
            raise CallError("unreachable", f"{self.name}: not delivered")


def apprise_channels(urls: str, timeout_s: float) -> list[AppriseChannel]:
    """A channel per URL; names made unique (``apprise:slack``, ``apprise:slack#2``)."""
    channels = [AppriseChannel(url, timeout_s) for url in split_urls(urls)]
    seen: dict[str, int] = {}
    for channel in channels:
        seen[channel.name] = seen.get(channel.name, 0) + 1
        if seen[channel.name] > 1:
            channel.name = f"{channel.name}#{seen[channel.name]}"
    return channels
