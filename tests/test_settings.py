"""Settings: defaults, then premarket.toml, then PREMARKET_ variables; secrets only from the env."""

from __future__ import annotations

from pathlib import Path

import pytest

from premarket.settings import SettingsError, load_settings


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "premarket.toml"
    path.write_text("")  # a named file must exist (tests/test_settings_typos.py)
    monkeypatch.setenv("PREMARKET_CONFIG", str(path))
    for name in ("PREMARKET_SYMBOLS", "PREMARKET_TFT__URL", "PREMARKET_CHAIN__RETRIES"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_defaults_follow_the_original_rules(config: Path) -> None:
    settings = load_settings()
    assert settings.signal.price_weight == 0.6 and settings.signal.sentiment_weight == 0.4
    assert settings.chain.breaker_failures == 3 and settings.chain.breaker_cooldown_s == 300
    assert settings.paper.starting_cash == 100_000 and settings.paper.min_confidence is None
    assert settings.retention_days == 30
    assert settings.api.host == "127.0.0.1"
    assert settings.tft.url.endswith(":3001") and settings.nhits.url.endswith(":3002")


def test_toml_then_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text('symbols = ["aapl", "msft"]\n[tft]\nurl = "http://gpu-box:3001"\n')
    settings = load_settings()
    assert settings.symbols == ["AAPL", "MSFT"]
    assert settings.tft.url == "http://gpu-box:3001"

    monkeypatch.setenv("PREMARKET_SYMBOLS", "nvda, tsla")
    monkeypatch.setenv("PREMARKET_TFT__URL", "http://other:9000")
    settings = load_settings()
    assert settings.symbols == ["NVDA", "TSLA"]
    assert settings.tft.url == "http://other:9000"


def test_secret_in_toml_is_refused(config: Path) -> None:
    config.write_text('[alerts]\nslack_webhook_url = "https://hooks.example/x"\n')
    with pytest.raises(SettingsError, match="alerts.slack_webhook_url is a secret"):
        load_settings()


def test_secret_from_environment_is_hidden(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREMARKET_TFT__TOKEN", "tok-123456")
    settings = load_settings()
    assert settings.tft.token is not None
    assert settings.tft.token.get_secret_value() == "tok-123456"
    assert "tok-123456" not in repr(settings) and "tok-123456" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PREMARKET_CHAIN__RETRIES", "many", "chain.retries"),
        ("PREMARKET_SIGNAL__PRICE_WEIGHT", "1.5", "signal.price_weight"),
        ("PREMARKET_SYMBOLS", " , ", "symbols"),
    ],
)
def test_invalid_setting_is_one_line_naming_it(
    config: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unreadable_toml_is_one_line(config: Path) -> None:
    config.write_text("symbols = [unterminated\n")
    with pytest.raises(SettingsError, match="cannot be read as TOML"):
        load_settings()
