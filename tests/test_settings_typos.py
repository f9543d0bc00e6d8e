"""Typos and inputs through the real ``premarket`` command (issue 17, items 10-13 and 15): each is
refused with one line naming the setting and a non-zero exit; tickers follow one rule; the
crontab recipe works as printed."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import shlex
import subprocess
from datetime import date, datetime
from pathlib import Path

import orchestrator_stubs as stubs
import pytest
import yaml
from orchestrator_stubs import DEAD_URL
from test_cron import far_from_now

from orchestrator.api.app import AnalyzeRequest
from orchestrator.common.clock import NEW_YORK
from orchestrator.data.calendar import TradingCalendar
from orchestrator.jobs.kubernetes import kubernetes_cronjobs
from orchestrator.jobs.recipes import crontab
from orchestrator.jobs.schedule import run_slot_once
from orchestrator.storage.store import Store
from premarket.data import DEMO_AS_OF, PRICES_CSV
from premarket.protocol import is_ticker
from premarket.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def premarket(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return stubs.run_cli(
        tmp_path,
        *args,
        env={"PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", **(env or {})},
    )


@pytest.mark.parametrize(
    ("toml", "env", "args", "named"),
    [
        ("[chain]\nretry = 2\n", {}, ["crontab"], "chain.retry"),
        (None, {"PREMARKET_CONFIG": "/nowhere/premarket.toml"}, ["crontab"], "PREMARKET_CONFIG"),
        (None, {"PREMARKET_CHAIN__RETRY": "2"}, ["crontab"], "PREMARKET_CHAIN__RETRY"),
        (None, {"PREMARKET_TFT__URL": "not-a-url"}, ["crontab"], "tft.url"),
        (None, {"PREMARKET_SIGNAL__PRICE_WEIGHT": "0.9"}, ["crontab"], "price_weight"),
        (None, {"PREMARKET_CHAIN__ENSEMBLE_WEIGHTS": "[0.9, 0.4]"}, ["crontab"], "ensemble_w"),
        (None, {"PREMARKET_SCHEDULE__SLOTS": '["6:3x"]'}, ["schedule", "--once"], "schedule.slots"),
        (None, {"PREMARKET_SCHEDULE__TIMEZONE": "Mars/Base"}, ["crontab"], "schedule.timezone"),
        (None, {}, ["analyze", "--offline", "--symbols", ""], "--symbols"),
        # misspelled top-level variables were ignored, and a ./premarket.db appeared (issue 27.10)
        (None, {"PREMARKET_DATABSE_URL": "sqlite:///x.db"}, ["analyze", "--offline"],
         "did you mean PREMARKET_DATABASE_URL"),
        (None, {"PREMARKET_SYMBOL": "AAPL"}, ["crontab"], "did you mean PREMARKET_SYMBOLS"),
        (None, {"PREMARKET_ALERTS_SLACK_WEBHOOK_URL": "https://example.invalid/x"}, ["crontab"],
         "did you mean PREMARKET_ALERTS__SLACK_WEBHOOK_URL"),
        (None, {"PREMARKET_API_TOKEN": "s3cret"}, ["crontab"], "did you mean PREMARKET_API__TOKEN"),
        # issue 33 M1: a database URL that is none was exit 1 at the first run
        (None, {"PREMARKET_DATABASE_URL": "notaurl"}, ["analyze", "--offline"], "database_url"),
    ],
)  # fmt: skip
def test_a_typo_is_one_line_naming_the_setting(
    tmp_path: Path, toml: str | None, env: dict, args: list[str], named: str
) -> None:
    if toml is not None:
        (tmp_path / "premarket.toml").write_text(toml)
        env = {**env, "PREMARKET_CONFIG": str(tmp_path / "premarket.toml")}
    result = premarket(tmp_path, *args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert not (tmp_path / "premarket.db").exists()


def test_a_failed_slot_is_logged_in_one_line(tmp_path: Path, caplog) -> None:
    (slot,) = TradingCalendar().slots_on(date(2024, 7, 5), ["06:30"])
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")

    async def failing(_slot) -> None:
        raise RuntimeError("run run_x failed: AAPL: not in prices.csv")

    try:
        with caplog.at_level(logging.INFO, logger="orchestrator.jobs.schedule"):
            assert asyncio.run(run_slot_once(slot, store, failing, set())) == "failed"
    finally:
        store.close()
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.exc_info is None  # no traceback on stderr
    assert failure.getMessage() == (
        "slot 2024-07-05 06:30 failed: run run_x failed: AAPL: not in prices.csv"
    )


def test_one_ticker_rule_for_yahoo_symbols() -> None:
    for good in ("AAPL", "^GSPC", "BRK-B", "EURUSD=X", "GC=F", "0700.HK", "BTC-USD"):
        assert is_ticker(good), good
        assert AnalyzeRequest(symbols=[good.lower()]).symbols == [good]
    for bad in ("A^B", "=X", "^", "AAPL=", "A B", "X" * 16, "AAPL;rm"):
        assert not is_ticker(bad), bad
    with pytest.raises(ValueError, match="not valid tickers"):
        AnalyzeRequest(symbols=["A^B"])


def test_the_orchestrator_takes_an_index_symbol(tmp_path: Path) -> None:
    env = {f"PREMARKET_{n}__URL": DEAD_URL for n in ("TFT", "NHITS", "SENTIMENT")}
    out = tmp_path / "run.json"
    args = ["analyze", "--offline", "--as-of", DEMO_AS_OF, "--symbols", "^GSPC", "MSFT"]
    premarket(tmp_path, *args, "--json", str(out), env=env)
    doc = json.loads(out.read_text())
    assert doc["trading_signals"]["MSFT"]["success"] is True
    error = doc["trading_signals"]["^GSPC"]["error"]
    assert "not a valid ticker" not in error and "^GSPC" in error  # refused for data, not shape


def test_bad_price_rows_fail_their_symbol_in_the_table(tmp_path: Path) -> None:
    with open(PRICES_CSV, newline="") as handle:
        rows = [
            r
            for r in csv.DictReader(handle)
            if r["symbol"] in ("AAPL", "MSFT", "TSLA") and "2022-05-01" <= r["date"] <= DEMO_AS_OF
        ]
    aapl = next(i for i, r in enumerate(rows) if r["symbol"] == "AAPL")
    rows.insert(aapl + 1, {**rows[aapl], "close": "313.8"})  # a conflicting duplicate date
    msft = next(i for i, r in enumerate(rows) if r["symbol"] == "MSFT")
    rows[msft + 3] = {**rows[msft + 3], "close": "NaN"}
    path = tmp_path / "prices.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:  # with a BOM
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    env = {f"PREMARKET_{n}__URL": DEAD_URL for n in ("TFT", "NHITS", "SENTIMENT")}
    out = tmp_path / "run.json"
    args = [
        "analyze",
        "--offline",
        "--prices",
        str(path),
        "--as-of",
        DEMO_AS_OF,
        "--json",
        str(out),
    ]
    result = premarket(tmp_path, *args, "--symbols", "AAPL", "MSFT", "TSLA", env=env)
    doc = json.loads(out.read_text())
    assert doc["status"] == "partial" and doc["trading_signals"]["TSLA"]["success"] is True
    aapl_error, msft_error = (doc["trading_signals"][s]["error"] for s in ("AAPL", "MSFT"))
    assert "line " in aapl_error and "AAPL" in aapl_error
    assert "line " in msft_error and "close" in msft_error
    table = result.stdout
    assert table.count("ERROR") == 2 and "313.8" not in table.split("TSLA")[0].split("AAPL")[1]


def test_the_crontab_line_works_as_printed(tmp_path: Path) -> None:
    """Run a printed line's command the way cron does: /bin/sh, a bare environment, $HOME."""
    never_due = far_from_now(datetime.now(NEW_YORK))  # before the open, not due now
    (tmp_path / "premarket.env").write_text(
        f"PREMARKET_CONFIG=\nPREMARKET_SCHEDULE__SLOTS='[\"{never_due}\"]'\n"
    )
    text = crontab(
        Settings(schedule={"slots": [never_due]}),
        workdir=tmp_path,
        env_file=tmp_path / "premarket.env",
        log_file=tmp_path / "logs" / "premarket.log",
    )
    line = next(ln for ln in text.splitlines() if ln.startswith("*/5 "))
    command = line.split(maxsplit=5)[5]
    assert shlex.split(command.split("exec ", 1)[1])[0].startswith("/")  # premarket by path
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "SHELL": "/bin/sh"}
    done = subprocess.run(["/bin/sh", "-c", command], env=bare, cwd="/", timeout=180)
    assert done.returncode in (0, 5)  # 5: today's slot passed without a run (a fresh store)
    log = (tmp_path / "logs" / "premarket.log").read_text()
    assert "no slot due now" in log, log
    assert (tmp_path / "premarket.db").is_file()  # the working directory holds the store


def test_the_kubernetes_cronjob_runs_the_cli_from_the_bento_source() -> None:
    (doc, *_) = yaml.safe_load_all(kubernetes_cronjobs(Settings()))
    container = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["python", "-m", "orchestrator.cli.main"]
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    assert "orchestrator/**/*.py" in bentofile["include"]
    packages = " ".join(bentofile["python"]["packages"])
    for name in ("sqlalchemy", "alembic", "pydantic-settings", "rich", "exchange-calendars"):
        assert name in packages, name
