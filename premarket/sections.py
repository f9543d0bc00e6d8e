"""The sections of the settings (``[tft]``, ``[chain]``, ``[signal]``, ``[paper]``...): each a
pydantic model that refuses unknown keys, so a typo is an error naming the setting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from premarket.decision import NewsText, NewsWindow

Dialect = Literal["flat", "modelscope"]


class Section(BaseModel):
    """A settings section: an unknown key (``[chain] retry = 2``) is a typo, refused by name."""

    model_config = ConfigDict(extra="forbid")


def http_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host (``not-a-url`` is refused)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    return value


def sums_to_one(weights: tuple[float, ...], names: str) -> None:
    """Weights that are meant as shares must add up to 1 (0.9 + 0.4 is a typo)."""
    if abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"{names} must add up to 1 (they add up to {sum(weights):g})")


class Target(Section):
    """Where one model role is served: a local Bento or a ModelScope URL."""

    url: str
    dialect: Dialect = "flat"
    token: SecretStr | None = Field(default=None, description="Bearer token; environment only.")
    timeout_s: float = Field(default=8.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


class TftTarget(Target):
    url: str = "http://127.0.0.1:3001"


class NhitsTarget(Target):
    url: str = "http://127.0.0.1:3002"


class SentimentTarget(Target):
    url: str = "http://127.0.0.1:3003"


class ChainSettings(Section):
    """The forecast fallback chain TFT -> N-HITS -> statistical."""

    retries: int = Field(default=2, ge=0, le=10, description="Retries of transient errors.")
    backoff_s: float = Field(default=0.25, ge=0)
    symbol_deadline_s: float = Field(default=20.0, gt=0)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_s: float = Field(default=300.0, ge=0)
    ensemble: bool = False
    ensemble_weights: tuple[float, float] = (0.55, 0.45)
    history_days: int = Field(default=90, ge=2, description="Daily rows sent to the models.")
    min_history_days: int = Field(
        default=30, ge=2, description="Fewer daily rows than this is a per-symbol error."
    )
    concurrency: int = Field(
        default=32, ge=1, description="Symbols in flight at once (the services batch them)."
    )

    @field_validator("ensemble_weights")
    @classmethod
    def _shares(cls, value: tuple[float, float]) -> tuple[float, float]:
        if min(value) < 0:
            raise ValueError("weights must not be negative")
        sums_to_one(value, "the TFT and N-HITS weights")
        return value


class SignalSettings(Section):
    """How the price and sentiment signals combine into an action.

    ``calibrated`` (default): the decision model (``premarket.decision``) turns the price
    forecast and the news into P(the session moves up, open to close); the confidence is that
    probability for the signal's direction, and BUY/SELL needs ``weak_probability`` and an
    expected edge of ``min_edge_bps``. ``original``: docs/ORIGIN.md section 5's weighted rule (0.6
    price, 0.4 sentiment, thresholds 0.5/0.2), kept for compatibility; its confidence is NOT a
    calibrated probability.
    """

    mode: Literal["calibrated", "original"] = "calibrated"
    decision_model: Path | None = Field(
        default=None,
        description="Decision model JSON; the copy bundled with the package when unset.",
    )
    weak_probability: float = Field(default=0.53, gt=0.5, lt=1)
    strong_probability: float = Field(default=0.56, gt=0.5, lt=1)
    min_edge_bps: float = Field(
        default=10.0, ge=0, description="Expected open-to-close edge a BUY/SELL needs (costs)."
    )
    price_weight: float = Field(default=0.6, ge=0, le=1)
    sentiment_weight: float = Field(default=0.4, ge=0, le=1, validate_default=True)
    strong_threshold: float = Field(default=0.5, gt=0)
    weak_threshold: float = Field(default=0.2, gt=0)
    sentiment_threshold: float = Field(default=0.2, gt=0)
    max_articles: int = Field(default=3, ge=1)
    article_chars: int = Field(default=500, ge=1)
    news_window: NewsWindow = Field(
        default="previous_session",
        description="Which headlines a live run reads: those of the session before the business "
        "date (what the bundled decision model was fitted on) or those since its close.",
    )
    news_text: NewsText = Field(
        default="title",
        description="What of each article is scored: its title (as in the fit) or the title "
        "and the feed's summary.",
    )

    @field_validator("sentiment_weight")
    @classmethod
    def _shares(cls, value: float, info: ValidationInfo) -> float:
        if "price_weight" in info.data:
            sums_to_one((info.data["price_weight"], value), "price_weight and sentiment_weight")
        return value


DEFAULT_ALERT_THRESHOLD = {"calibrated": 0.5, "original": 0.85}
"""``alerts.confidence_threshold`` when unset, per ``signal.mode``."""
ORIGINAL_MIN_CONFIDENCE = 0.65
"""``paper.min_confidence`` when unset, for the original rule's signals."""


def split_urls(text: str) -> list[str]:
    """Apprise URLs from one setting: separated by whitespace or commas."""
    return [u for u in re.split(r"[\s,]+", text) if u]


def _apprise_usable(urls: SecretStr | None) -> SecretStr | None:
    """Refuse, when the settings are loaded, a URL Apprise cannot use (rather than at the first
    alert); the error names the entry and its scheme, never the URL (it holds credentials)."""
    if urls is None:
        return None
    import apprise  # only when Apprise URLs are configured

    for i, url in enumerate(split_urls(urls.get_secret_value()), start=1):
        if not apprise.Apprise().add(url):
            scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
            raise ValueError(f"entry {i} ({scheme}://...) is not a URL Apprise can use")
    return urls


class AlertSettings(Section):
    """Alert channels and rules; URLs and the SMTP password come from the environment."""

    confidence_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Alert on a fresh BUY/SELL whose confidence is above this. Unset: per signal.mode, "
            "0.5 for 'calibrated' (every calibrated BUY/SELL, which already needs about 54%: "
            "0.85 can never be reached there) and 0.85 for 'original'."
        ),
    )
    slack_webhook_url: SecretStr | None = None
    webhook_url: SecretStr | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    email_from: str = "premarket@localhost"
    email_to: list[str] = Field(default_factory=list)
    tries: int = Field(default=3, ge=1)
    backoff_s: float = Field(default=0.5, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)
    apprise_urls: SecretStr | None = Field(
        default=None,
        description="Apprise URLs (Slack, mailto, LINE, Telegram, Discord, ...), separated by "
        "spaces or commas; environment only.",
    )
    messenger_page_token: SecretStr | None = Field(
        default=None, description="Facebook Page access token (Messenger); environment only."
    )
    messenger_recipients: list[str] = Field(
        default_factory=list, description="Page-scoped ids (PSIDs) that get Messenger alerts."
    )
    messenger_url: str = "https://graph.facebook.com/v21.0/me/messages"
    digest: bool = Field(default=False, description="Also one message per run with all signals.")
    dashboard_url: str | None = Field(
        default=None,
        description="The dashboard link every alert carries; unset: http://{api.host}:{api.port}/.",
    )

    @field_validator("apprise_urls")
    @classmethod
    def _apprise(cls, value: SecretStr | None) -> SecretStr | None:
        return _apprise_usable(value)


class CostSettings(Section):
    """Prices that turn the services' compute seconds into money (``tracking.cost``)."""

    device: Literal["cpu", "gpu"] = Field(
        default="cpu", description="What the local model services run on."
    )
    cpu_hour_usd: float = Field(default=0.10, ge=0, description="Price of a CPU host hour.")
    gpu_hour_usd: float = Field(default=1.00, ge=0, description="Price of a GPU host hour.")
    call_usd: dict[str, float] = Field(
        default_factory=dict,
        description="Price per call of a hosted (ModelScope) target, by name: tft, nhits, "
        "sentiment; required for every target whose dialect is modelscope.",
    )
    service_hours_per_day: float = Field(
        default=24.0,
        gt=0,
        le=24,
        description="Hours a day the local model services' host is up and paid for (24: always "
        "on; 1: started for the morning only).",
    )
    runs_per_day: int | None = Field(
        default=None,
        ge=1,
        description="Runs a trading day shares the host among; the schedule's slots when unset.",
    )


class ApiSettings(Section):
    """The results API (``premarket serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token: SecretStr | None = Field(default=None, description="Bearer token for POST /analyze.")
    read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Seconds a request's headers, then its body, may take to arrive (then 408).",
    )


class PaperSettings(Section):
    """Paper-trading rules (docs/ORIGIN.md section 5).

    The ``*_pct`` rules keep the original's names but are fractions: 0.05 is 5 % of equity.
    """

    starting_cash: float = Field(default=100_000.0, gt=0)
    max_position_pct: float = Field(default=0.05, gt=0, le=1)
    max_total_risk_pct: float = Field(default=0.20, gt=0, le=1)
    stop_loss_pct: float = Field(default=0.08, gt=0, lt=1)
    take_profit_pct: float = Field(default=0.15, gt=0)
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "A BUY/SELL trades only at this confidence or above. Unset: 0.65 for the original "
            "rule's uncalibrated confidence, none for a calibrated signal (its action already "
            "needs its probability and edge); set, it applies to both."
        ),
    )
    min_order_usd: float = Field(
        default=1_000.0,
        ge=0,
        description="No order smaller than this (dollars): no 7-share positions to fill a cap.",
    )
    sizing: Literal["risk", "fixed"] = Field(
        default="risk",
        description=(
            "How a new position is sized. 'risk': to a risk budget, notional = equity * "
            "risk_per_trade_pct / sigma_oc (the signal's forecast sigma of its session), at most "
            "max_position_pct of equity; a signal without a risk forecast (older runs) is sized "
            "'fixed'. 'fixed': max_position_pct of equity. Either way within max_total_risk_pct, "
            "the cash and min_order_usd; orders, positions and trades record which was used."
        ),
    )
    risk_per_trade_pct: float = Field(
        default=0.0005,
        gt=0,
        le=1,
        description=(
            "With sizing = 'risk': the share of equity one forecast sigma of a new position's "
            "session puts at stake (0.0005 = 0.05%: a 1% sigma gets 5% of equity, the default "
            "max_position_pct cap; a 2% sigma 2.5%; a 4% sigma 1.25%)."
        ),
    )
    holding: Literal["session", "hold"] = Field(
        default="session",
        description=(
            "'session': the trade the signal predicts, filled at the business date's open and "
            "closed at its close. 'hold': the original rule, held until stop_loss_pct, "
            "take_profit_pct or an opposite signal."
        ),
    )
    cost_bps: float = Field(
        default=5.0,
        ge=0,
        le=1_000,
        description="Fees and slippage per side, basis points of the notional (the backtest's).",
    )


MARKET_OPEN = "09:30"
"""The NYSE regular open, New York time: the pre-market rule's deadline."""
SLOT_GRACE_MIN = 25
"""How late a slot may still start (a restart or a slow cron start inside it still runs it)."""
_LAST_MIN = int(MARKET_OPEN[:2]) * 60 + int(MARKET_OPEN[3:]) - SLOT_GRACE_MIN
LAST_SLOT = f"{_LAST_MIN // 60:02d}:{_LAST_MIN % 60:02d}"
"""The latest slot whose grace still ends at the open (09:05)."""


class ScheduleSettings(Section):
    """Pre-market run slots, New York local time, on NYSE trading days."""

    timezone: str = "America/New_York"
    calendar: str = "XNYS"
    slots: list[str] = Field(
        default_factory=lambda: ["06:30", "07:00", "07:30", "08:00", "08:30", "09:00"],
        min_length=1,
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone, e.g. America/New_York") from None
        return value

    @field_validator("slots")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for text in value:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
                raise ValueError(f"slot {text!r}: expected HH:MM (24-hour, two digits), e.g. 06:30")
        if len(set(value)) != len(value):
            raise ValueError("a slot appears twice")
        for text in value:
            hours, minutes = map(int, text.split(":"))
            if minutes % 5:  # the crontab fires every 5 minutes
                raise ValueError(f"slot {text!r}: must be on a 5-minute mark, e.g. 06:30")
            if hours * 60 + minutes > _LAST_MIN:
                raise ValueError(
                    f"slot {text!r}: pre-market slots must start, with their {SLOT_GRACE_MIN} "
                    f"minutes of grace, before the {MARKET_OPEN} open (at {LAST_SLOT} at the latest)"
                )
        return value
