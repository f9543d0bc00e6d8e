"""One settings object: defaults, then ``premarket.toml``, then ``PREMARKET_...`` variables.

Secrets (tokens, webhook URLs, the SMTP password) are read from the environment only: a TOML
file that sets one is refused, so secrets never end up in a file that gets committed.
Nested fields use a double underscore: ``PREMARKET_TFT__URL``, ``PREMARKET_ALERTS__SMTP_HOST``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from premarket import service_env
from premarket.data import SYMBOLS
from premarket.sections import (
    AlertSettings,
    ApiSettings,
    ChainSettings,
    CostSettings,
    NhitsTarget,
    PaperSettings,
    ScheduleSettings,
    SentimentTarget,
    SignalSettings,
    Target,
    TftTarget,
    http_url,
)

__all__ = [  # the sections are imported from here by the rest of the project
    "AlertSettings",
    "ApiSettings",
    "ChainSettings",
    "CostSettings",
    "PaperSettings",
    "ScheduleSettings",
    "SentimentTarget",
    "Settings",
    "SettingsError",
    "SignalSettings",
    "Target",
    "load_settings",
]

CONFIG_ENV = "PREMARKET_CONFIG"
DEFAULT_CONFIG = Path("premarket.toml")


class SettingsError(ValueError):
    """An invalid setting, with a one-line message naming it."""


# Fields that hold secrets, by section; they may come from the environment only.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "tft": ("token",),
    "nhits": ("token",),
    "sentiment": ("token",),
    "alerts": (
        "slack_webhook_url",
        "webhook_url",
        "smtp_password",
        "apprise_urls",
        "messenger_page_token",
    ),
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
    cost: CostSettings = CostSettings()
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
    yahoo_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Whole-call deadline of one Yahoo chart or RSS request, however it drips.",
    )

    @model_validator(mode="after")
    def _hosted_targets_have_a_price(self) -> Settings:
        """A hosted target bills per call: its price is needed to say what a run costs."""
        for name in ("tft", "nhits", "sentiment"):
            if getattr(self, name).dialect == "modelscope" and name not in self.cost.call_usd:
                raise ValueError(
                    f"cost.call_usd.{name}: required when {name}.dialect is modelscope "
                    "(a hosted target bills per call)"
                )
        return self

    @field_validator("yahoo_chart_url", "yahoo_rss_url")
    @classmethod
    def _urls(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "yahoo_chart_url" and "{symbol}" not in value:
            raise ValueError(f"{value!r} lacks the {{symbol}} placeholder")
        return http_url(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """A URL SQLAlchemy can read (``dialect[+driver]://...``), refused at load, not at the
        first run (which could then not even record that it failed)."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+]*://.*", value):
            raise ValueError(
                "not a database URL; e.g. sqlite:///premarket.db or "
                "postgresql+psycopg://user@host/premarket"
            )
        return value

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
        path = config_path()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))


def config_path() -> Path | None:
    """The TOML file: the one ``PREMARKET_CONFIG`` names (set it empty for none), else
    ``premarket.toml`` in the working directory when there is one."""
    named = os.environ.get(CONFIG_ENV)
    if named is None:
        return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    return Path(named) if named.strip() else None


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
    path = config_path()
    if path is None:
        return _build(overrides)
    if not path.is_file():  # a typo in the name must not silently mean "all defaults"
        raise SettingsError(
            f"{CONFIG_ENV}: {path} does not exist (set {CONFIG_ENV}= empty for no file)"
        )
    try:
        leaked = _secrets_in_toml(path)
    except Exception as exc:  # tomllib.TOMLDecodeError, OSError
        raise SettingsError(f"{path}: cannot be read as TOML ({exc})") from None
    if leaked:
        raise SettingsError(
            f"{path}: {', '.join(leaked)} is a secret; set it in the environment "
            f"(e.g. PREMARKET_{leaked[0].upper().replace('.', '__')}), not in a file"
        )
    return _build(overrides)


OTHER_VARIABLES = frozenset(
    {
        CONFIG_ENV,
        # the model services' own (premarket.service_env), and their deprecated names
        *(service_env.name(key) for key in service_env.NAMES),
        *service_env.RENAMED.values(),
        # the container image a `bentoml build` packs (serving/image.py)
        "PREMARKET_IMAGE",
        # the test suite's and the benchmarks' switches
        "PREMARKET_SKIP_POSTGRES",
        "PREMARKET_SKIP_BROWSER",
        "PREMARKET_SKIP_CRON",
        "PREMARKET_SKIP_SYSTEMD",
        "PREMARKET_PG_BIN",
        "PREMARKET_CHROMIUM",
        "PREMARKET_BENCH_LOAD_S",
        "PREMARKET_FUZZ_REQUESTS",
    }
)
"""``PREMARKET_*`` variables that are not settings of the orchestrator but are read elsewhere."""


def setting_variables() -> set[str]:
    """Every environment variable name that sets something: a field, or a section's field."""
    names = set(OTHER_VARIABLES)
    for name, field in Settings.model_fields.items():
        names.add(f"PREMARKET_{name.upper()}")
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names.update(f"PREMARKET_{name.upper()}__{sub.upper()}" for sub in section.model_fields)
    return names


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``PREMARKET_*`` variables that set nothing (a typo would otherwise be ignored)."""
    environ = os.environ if environ is None else environ
    known = setting_variables()
    return sorted(
        k for k in environ if k.upper().startswith("PREMARKET_") and k.upper() not in known
    )


def _refuse_unknown_variables() -> None:
    unknown = unknown_variables()
    if unknown:
        guess = difflib.get_close_matches(unknown[0].upper(), setting_variables(), n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        raise SettingsError(f"{unknown[0]}: not a setting{hint}; unset it or fix its name")


def _build(overrides: dict[str, Any]) -> Settings:
    _refuse_unknown_variables()
    try:
        return Settings(**overrides)
    except PydanticSettingsError as exc:
        raise SettingsError(str(exc).splitlines()[0]) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise SettingsError(f"invalid setting {where}: {err['msg']}") from None
