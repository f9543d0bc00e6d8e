"""One settings object: defaults, then ``premarket.toml``, then ``PREMARKET_...`` variables.

Secrets (tokens, webhook URLs, the SMTP password) are read from the environment only: a TOML
file that sets one is refused, so secrets never end up in a file that gets committed.
Nested fields use a double underscore: ``PREMARKET_TFT__URL``, ``PREMARKET_ALERTS__SMTP_HOST``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from premarket.data import SYMBOLS

CONFIG_ENV = "PREMARKET_CONFIG"
DEFAULT_CONFIG = Path("premarket.toml")

Dialect = Literal["flat", "modelscope"]


class SettingsError(ValueError):
    """An invalid setting, with a one-line message naming it."""


class Target(BaseModel):
    """Where one model role is served: a local Bento or a ModelScope URL."""

    url: str
    dialect: Dialect = "flat"
    token: SecretStr | None = Field(default=None, description="Bearer token; environment only.")
    timeout_s: float = Field(default=8.0, gt=0)


class TftTarget(Target):
    url: str = "http://127.0.0.1:3001"


class NhitsTarget(Target):
    url: str = "http://127.0.0.1:3002"


class SentimentTarget(Target):
    url: str = "http://127.0.0.1:3003"


class ChainSettings(BaseModel):
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


class SignalSettings(BaseModel):
    """How the price and sentiment signals combine into an action (ORIGIN.md section 5)."""

    price_weight: float = Field(default=0.6, ge=0, le=1)
    sentiment_weight: float = Field(default=0.4, ge=0, le=1)
    strong_threshold: float = Field(default=0.5, gt=0)
    weak_threshold: float = Field(default=0.2, gt=0)
    sentiment_threshold: float = Field(default=0.2, gt=0)
    max_articles: int = Field(default=3, ge=1)
    article_chars: int = Field(default=500, ge=1)


class AlertSettings(BaseModel):
    """Alert channels and rules; URLs and the SMTP password come from the environment."""

    confidence_threshold: float = Field(default=0.85, ge=0, le=1)
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


class ApiSettings(BaseModel):
    """The results API (``premarket serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token: SecretStr | None = Field(default=None, description="Bearer token for POST /analyze.")


class PaperSettings(BaseModel):
    """Paper-trading rules (ORIGIN.md section 5).

    The ``*_pct`` rules keep the original's names but are fractions: 0.05 is 5 % of equity.
    """

    starting_cash: float = Field(default=100_000.0, gt=0)
    max_position_pct: float = Field(default=0.05, gt=0, le=1)
    max_total_risk_pct: float = Field(default=0.20, gt=0, le=1)
    stop_loss_pct: float = Field(default=0.08, gt=0, lt=1)
    take_profit_pct: float = Field(default=0.15, gt=0)
    min_confidence: float = Field(default=0.65, ge=0, le=1)


class ScheduleSettings(BaseModel):
    """Pre-market run slots, New York local time, on NYSE trading days."""

    timezone: str = "America/New_York"
    calendar: str = "XNYS"
    slots: list[str] = Field(
        default_factory=lambda: ["06:30", "07:00", "07:30", "08:00", "08:30", "09:00"]
    )


# Fields that hold secrets, by section; they may come from the environment only.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "tft": ("token",),
    "nhits": ("token",),
    "sentiment": ("token",),
    "alerts": ("slack_webhook_url", "webhook_url", "smtp_password"),
    "api": ("token",),
}


class Settings(BaseSettings):
    """Everything the orchestrator can be told."""

    model_config = SettingsConfigDict(
        env_prefix="PREMARKET_", env_nested_delimiter="__", extra="forbid"
    )

    symbols: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(SYMBOLS))
    tft: TftTarget = TftTarget()
    nhits: NhitsTarget = NhitsTarget()
    sentiment: SentimentTarget = SentimentTarget()
    chain: ChainSettings = ChainSettings()
    signal: SignalSettings = SignalSettings()
    alerts: AlertSettings = AlertSettings()
    api: ApiSettings = ApiSettings()
    paper: PaperSettings = PaperSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    database_url: str = "sqlite:///premarket.db"
    retention_days: int = Field(default=30, ge=1)
    prices_csv: Path | None = Field(
        default=None, description="Offline price CSV; the bundled prices when unset."
    )
    state_dir: Path = Path(".premarket")
    yahoo_chart_url: str = Field(
        default="https://query1.finance.yahoo.com/v8/finance/chart/{symbol}",
        description="Live daily bars (Yahoo chart API); {symbol} is replaced.",
    )
    yahoo_rss_url: str = Field(
        default="https://feeds.finance.yahoo.com/rss/2.0/headline",
        description="Live headlines (Yahoo Finance RSS feed).",
    )

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [s for s in value.replace(",", " ").split() if s]
        return value

    @field_validator("symbols")
    @classmethod
    def _upper_symbols(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is needed")
        return [s.upper() for s in value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))


def _secrets_in_toml(path: Path) -> list[str]:
    import tomllib

    if not path.is_file():
        return []
    data = tomllib.loads(path.read_text())
    return [
        f"{section}.{name}"
        for section, names in SECRET_FIELDS.items()
        for name in names
        if isinstance(data.get(section), dict) and name in data[section]
    ]


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise ``SettingsError`` with one line naming the bad setting."""
    path = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG))
    try:
        leaked = _secrets_in_toml(path)
    except Exception as exc:  # tomllib.TOMLDecodeError, OSError
        raise SettingsError(f"{path}: cannot be read as TOML ({exc})") from None
    if leaked:
        raise SettingsError(
            f"{path}: {', '.join(leaked)} is a secret; set it in the environment "
            f"(e.g. PREMARKET_{leaked[0].upper().replace('.', '__')}), not in a file"
        )
    try:
        return Settings(**overrides)
    except PydanticSettingsError as exc:
        raise SettingsError(str(exc).splitlines()[0]) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise SettingsError(f"invalid setting {where}: {err['msg']}") from None
