"""Alerts: high-confidence signals, high-risk symbols, failed runs, unreachable services and
unanalysed symbols.

Channels: a Slack incoming webhook, SMTP email, a generic JSON webhook, every Apprise URL
(``notify.apprise_channel``: Slack, email, LINE, Telegram, Discord ...) and Facebook Messenger
(``notify.messenger``), each tried up to ``tries`` times with exponential backoff. What a
message says is ``notify.messages``. An alert is sent at most once per (New York business
date, symbol, action): the cron job runs several times a morning and must not repeat itself.
The webhook URLs and the SMTP password are secrets; errors name the channel, never the URL.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date
from email.message import EmailMessage

import httpx

from orchestrator.common.redact import register
from orchestrator.common.retry import CallError, kind_of_status, with_retries
from orchestrator.documents.run import AlertRecord
from orchestrator.notify.apprise_channel import apprise_channels
from orchestrator.notify.messages import (  # noqa: F401 - the alert kinds, imported from here
    DIGEST,
    HIGH_CONFIDENCE,
    HIGH_RISK,
    RUN_FAILED,
    SERVICE_UNREACHABLE,
    SYMBOL_FAILED,
    UNCALIBRATED,
    Alert,
    alert_threshold,
    body,
    dashboard_link,
    digest_alert,
    risk_alerts,
    signal_alerts,
    slack_payload,
    title,
    uncalibrated_alert,
)
from orchestrator.notify.messenger import messenger_channels
from orchestrator.storage.store import Store
from premarket.settings import AlertSettings

log = logging.getLogger(__name__)

STALE_DATA = "STALE_DATA"
SENTIMENT_DEGRADED = "SENTIMENT_DEGRADED"
"""The news was scored by the sentiment service's word list, not its model."""


class AlertSender:
    """The configured channels; ``channels`` is empty when none is."""

    def __init__(self, settings: AlertSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.channels: dict[str, Callable[[Alert], Awaitable[None]]] = {}
        for secret in (settings.slack_webhook_url, settings.webhook_url, settings.smtp_password):
            if secret:
                register(secret.get_secret_value())
        if settings.slack_webhook_url:
            self.channels["slack"] = self._slack
        if settings.webhook_url:
            self.channels["webhook"] = self._webhook
        if settings.smtp_host and settings.email_to:
            self.channels["email"] = self._email
        if settings.apprise_urls:
            urls = settings.apprise_urls.get_secret_value()
            self.channels.update({c.name: c for c in apprise_channels(urls, settings.timeout_s)})
        if settings.messenger_page_token and settings.messenger_recipients:
            token = settings.messenger_page_token.get_secret_value()
            self.channels.update(
                messenger_channels(
                    http,
                    settings.messenger_url,
                    token,
                    settings.messenger_recipients,
                    settings.timeout_s,
                )
            )

    async def _post(self, channel: str, url: str, body: dict) -> None:
        deadline = self.settings.timeout_s
        try:  # for the whole call: a webhook that drips a byte at a time must not hold the run
            async with asyncio.timeout(deadline):
                response = await self.http.post(url, json=body, timeout=deadline)
        except httpx.HTTPError as exc:
            raise CallError("unreachable", f"{channel}: {type(exc).__name__}") from None
        except TimeoutError:
            raise CallError(
                "unreachable", f"{channel}: no complete answer within {deadline:g} s"
            ) from None
        if response.is_error:
            raise CallError(
                kind_of_status(response.status_code),
                f"{channel}: HTTP {response.status_code}",
                response.status_code,
            )

    async def _slack(self, alert: Alert) -> None:
        assert self.settings.slack_webhook_url is not None
        url = self.settings.slack_webhook_url.get_secret_value()
        await self._post("slack", url, slack_payload(alert))

    async def _webhook(self, alert: Alert) -> None:
        assert self.settings.webhook_url is not None
        await self._post("webhook", self.settings.webhook_url.get_secret_value(), asdict(alert))

    async def _email(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = title(alert)
        message["From"] = self.settings.email_from
        message["To"] = ", ".join(self.settings.email_to)
        message.set_content(body(alert))
        deadline = self.settings.timeout_s
        try:
            await asyncio.wait_for(asyncio.to_thread(self._smtp_send, message), deadline)
        except (smtplib.SMTPException, OSError) as exc:
            raise CallError("unreachable", f"email: {type(exc).__name__}") from None
        except TimeoutError:
            raise CallError("unreachable", f"email: no answer within {deadline:g} s") from None

    def _smtp_send(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_s) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_password:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(message)

    async def deliver(self, alert: Alert) -> tuple[list[str], dict[str, str]]:
        """Send on every channel; the channels that delivered and the errors of the others."""

        async def one(name: str) -> str | None:
            try:
                await with_retries(
                    lambda: self.channels[name](alert),
                    tries=self.settings.tries,
                    backoff_s=self.settings.backoff_s,
                )
            except CallError as exc:
                return str(exc)
            except Exception as exc:  # a broken channel must not break the run
                return f"{name}: {type(exc).__name__}"
            return None

        names = list(self.channels)
        errors = await asyncio.gather(*(one(n) for n in names))
        delivered = [n for n, e in zip(names, errors, strict=True) if e is None]
        return delivered, {n: e for n, e in zip(names, errors, strict=True) if e is not None}


async def dispatch(
    alerts: list[Alert], *, sender: AlertSender, store: Store | None, business_date: date
) -> list[AlertRecord]:
    """Send each alert not yet sent this business date; the record of each for the result."""

    async def one(alert: Alert) -> AlertRecord:
        record = AlertRecord(**asdict(alert), delivered=[], duplicate=False)
        if not sender.channels:
            return record
        key = (business_date, alert.symbol, alert.action)
        claimed = None if store is None else await _dedupe(store.claim_alert, key)
        if claimed is False:
            record.duplicate = True
            return record
        delivered, errors = await sender.deliver(alert)
        record.delivered = delivered
        if errors:
            record.errors = errors
        if not delivered and claimed and store is not None:
            await _dedupe(store.release_alert, key)
        return record

    return list(await asyncio.gather(*(one(a) for a in alerts)))


async def _dedupe(step: Callable[..., object], key: tuple) -> bool | None:
    """A claim or release in the store, off the event loop. A store that fails (read-only, disk
    full) gives None: the alert goes out all the same, since a repeat beats a lost alert."""
    try:
        return bool(await asyncio.to_thread(step, *key))
    except Exception as exc:
        log.warning("alert dedupe unavailable (%s); sending without it", type(exc).__name__)
        return None
