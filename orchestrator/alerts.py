"""Alerts: high-confidence signals, failed runs, unreachable services and unanalysed symbols.

Channels: a Slack incoming webhook, SMTP email and a generic JSON webhook, each tried up to
``tries`` times with exponential backoff. An alert is sent at most once per (New York business
date, symbol, action): the cron job runs several times a morning and must not repeat itself.
The webhook URLs and the SMTP password are secrets; errors name the channel, never the URL.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from email.message import EmailMessage

import httpx

from orchestrator.redact import register
from orchestrator.retry import CallError, kind_of_status, with_retries
from orchestrator.store import Store
from premarket.protocol import utc_now_iso
from premarket.settings import AlertSettings

HIGH_CONFIDENCE = "HIGH_CONFIDENCE"
RUN_FAILED = "RUN_FAILED"
SERVICE_UNREACHABLE = "SERVICE_UNREACHABLE"
SYMBOL_FAILED = "SYMBOL_FAILED"
COLORS = {
    HIGH_CONFIDENCE: "good",
    RUN_FAILED: "danger",
    SERVICE_UNREACHABLE: "warning",
    SYMBOL_FAILED: "warning",
}


@dataclass
class Alert:
    level: str
    symbol: str  # a ticker, a target name for unreachable services, "*" for the run
    action: str
    message: str
    timestamp: str = field(default_factory=utc_now_iso)


def signal_alerts(signals: dict[str, dict], threshold: float) -> list[Alert]:
    """BUY or SELL signals whose confidence is above ``threshold``."""
    return [
        Alert(
            HIGH_CONFIDENCE,
            symbol,
            s["action"],
            f"High confidence signal: {symbol} - {s['action']} ({s['confidence']:.1%})",
        )
        for symbol, s in signals.items()
        if s.get("success")
        and s["action"].split()[0] in ("BUY", "SELL")
        and s["confidence"] > threshold
    ]


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

    async def _post(self, channel: str, url: str, body: dict) -> None:
        try:
            response = await self.http.post(url, json=body, timeout=self.settings.timeout_s)
        except httpx.HTTPError as exc:
            raise CallError("unreachable", f"{channel}: {type(exc).__name__}") from None
        if response.is_error:
            raise CallError(
                kind_of_status(response.status_code),
                f"{channel}: HTTP {response.status_code}",
                response.status_code,
            )

    async def _slack(self, alert: Alert) -> None:
        assert self.settings.slack_webhook_url is not None
        body = {
            "text": alert.message,
            "attachments": [
                {
                    "color": COLORS.get(alert.level, "warning"),
                    "fields": [
                        {"title": "Level", "value": alert.level, "short": True},
                        {"title": "Symbol", "value": alert.symbol, "short": True},
                    ],
                    "ts": alert.timestamp,
                }
            ],
        }
        await self._post("slack", self.settings.slack_webhook_url.get_secret_value(), body)

    async def _webhook(self, alert: Alert) -> None:
        assert self.settings.webhook_url is not None
        await self._post("webhook", self.settings.webhook_url.get_secret_value(), asdict(alert))

    async def _email(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = f"[premarket] {alert.level}: {alert.symbol} {alert.action}".strip()
        message["From"] = self.settings.email_from
        message["To"] = ", ".join(self.settings.email_to)
        message.set_content(f"{alert.message}\n\nLevel: {alert.level}\nTime: {alert.timestamp}\n")
        try:
            await asyncio.to_thread(self._smtp_send, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise CallError("unreachable", f"email: {type(exc).__name__}") from None

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
) -> list[dict]:
    """Send each alert not yet sent this business date; the record of each for the result."""

    async def one(alert: Alert) -> dict:
        record = {**asdict(alert), "delivered": [], "duplicate": False}
        if not sender.channels:
            return record
        if store is not None and not store.claim_alert(business_date, alert.symbol, alert.action):
            record["duplicate"] = True
            return record
        delivered, errors = await sender.deliver(alert)
        record["delivered"] = delivered
        if errors:
            record["errors"] = errors
        if not delivered and store is not None:
            store.release_alert(business_date, alert.symbol, alert.action)
        return record

    return list(await asyncio.gather(*(one(a) for a in alerts)))
