"""Honest bookkeeping through the real CLI: stale data is flagged, ``--as-of`` stays within the
data, offline runs stand on the data's last day, and exit statuses tell ok, partial and failed
apart. Model services are loopback stand-ins (``orchestrator_stubs``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orchestrator_stubs import Recorder, model_stubs, run_cli

from premarket.data import PRICES_CSV


@pytest.fixture
def env():
    """The stand-in model services and a Slack stand-in, as the CLI's environment."""
    with model_stubs() as services:
        slack = Recorder()
        yield (
            {
                **{f"PREMARKET_{n.upper()}__URL": stub.url for n, stub in services.items()},
                "PREMARKET_ALERTS__SLACK_WEBHOOK_URL": slack.url + "/services/T0/xyz",
                "PREMARKET_ALERTS__BACKOFF_S": "0.01",
            },
            slack,
        )
        slack.stop()


def prices_with_msft_ending(path: Path, last_msft: str) -> Path:
    """The bundled prices, with MSFT's rows cut after ``last_msft``."""
    lines = PRICES_CSV.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    kept = [r for r in rows if not (r.startswith("MSFT,") and r.split(",")[1] > last_msft)]
    path.write_text("\n".join([header, *kept]) + "\n")
    return path


def test_a_symbol_on_stale_data_is_flagged_and_the_run_is_partial(tmp_path: Path, env) -> None:
    variables, slack = env
    prices = prices_with_msft_ending(tmp_path / "prices.csv", "2022-09-09")
    out = tmp_path / "run.json"
    args = ["analyze", "--offline", "--prices", str(prices), "--as-of", "2022-09-20"]
    done = run_cli(tmp_path, *args, "--symbols", "AAPL,MSFT", "--json", str(out), env=variables)
    assert done.returncode == 3, done.stdout + done.stderr  # partial
    assert "MSFT: stale data, last bar 2022-09-09" in done.stdout and "run partial" in done.stdout
    doc = json.loads(out.read_text())
    msft, aapl = doc["trading_signals"]["MSFT"], doc["trading_signals"]["AAPL"]
    assert (msft["stale"], msft["data_as_of"]) == (True, "2022-09-09")
    assert (aapl["stale"], aapl["data_as_of"]) == (False, "2022-09-20")
    assert doc["status"] == "partial" and doc["mode"] == "replay"
    stale_alerts = [a for a in doc["alerts"] if a["level"] == "STALE_DATA"]
    assert len(stale_alerts) == 1 and "MSFT (2022-09-09)" in stale_alerts[0]["message"]
    assert sum("Stale data" in json.dumps(body) for body in slack.received) == 1


def test_exit_statuses_ok_partial_failed_and_usage(tmp_path: Path, env) -> None:
    variables, _ = env
    base = ["analyze", "--offline", "--as-of", "2022-09-20"]
    assert run_cli(tmp_path, *base, "--symbols", "AAPL", env=variables).returncode == 0
    partial = run_cli(tmp_path, *base, "--symbols", "AAPL", "FOOBAR", env=variables)
    assert partial.returncode == 3 and "FOOBAR" in partial.stdout
    failed = run_cli(tmp_path, *base, "--symbols", "FOOBAR", env=variables)
    assert failed.returncode == 1
    beyond = run_cli(tmp_path, "analyze", "--offline", "--as-of", "2024-06-03", env=variables)
    assert beyond.returncode == 2 and beyond.stdout == ""
    assert beyond.stderr.strip() == (
        f"premarket: --as-of 2024-06-03 is after the last date in {PRICES_CSV.name} (2023-12-29)"
    )
    future = run_cli(tmp_path, "analyze", "--offline", "--as-of", "2999-01-01", env=variables)
    assert future.returncode == 2 and "--as-of: 2999-01-01 is after today" in future.stderr
    assert "3 partial" in run_cli(tmp_path, "analyze", "--help").stdout


def test_offline_without_as_of_stands_on_the_last_day_of_the_data(tmp_path: Path, env) -> None:
    variables, _ = env
    out = tmp_path / "run.json"
    args = ["analyze", "--offline", "--symbols", "AAPL", "--json", str(out)]
    done = run_cli(tmp_path, *args, env=variables)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(out.read_text())
    assert (doc["as_of"], doc["business_date"]) == ("2023-12-29", "2024-01-02")
    assert doc["trading_signals"]["AAPL"]["stale"] is False and doc["mode"] == "replay"


def test_a_live_run_on_bars_eleven_days_old_is_stale(tmp_path: Path, env, monkeypatch) -> None:
    """Live (Yahoo), Monday 2024-07-15 before the open, the last bar on 2024-07-03."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from orchestrator_stubs import YahooStub, make_settings

    from orchestrator.jobs import analysis

    variables, _ = env
    now = datetime(2024, 7, 15, 11, 0, tzinfo=UTC)  # 07:00 New York
    from orchestrator.data import market

    for module in (analysis, market):
        monkeypatch.setattr(module, "utc_now", lambda: now)
    last = datetime(2024, 7, 3, 13, 30, tzinfo=UTC)
    bars = [
        (int((last - timedelta(days=k)).timestamp()), 100.0, 101.0, 99.0, 100.0 + k / 10, 1e6)
        for k in range(60, -1, -1)
    ]
    yahoo = YahooStub({"ACME": bars}, {"ACME": "<rss><channel></channel></rss>"})
    try:
        settings = make_settings(
            tmp_path,
            variables["PREMARKET_TFT__URL"],
            variables["PREMARKET_NHITS__URL"],
            variables["PREMARKET_SENTIMENT__URL"],
        )
        settings.yahoo_chart_url = yahoo.url + "/v8/finance/chart/{symbol}"
        settings.yahoo_rss_url = yahoo.url + "/rss/2.0/headline"
        result = asyncio.run(analysis.run_analysis(settings, symbols=["ACME"]))
    finally:
        yahoo.stop()
    assert result.mode == "live" and str(result.business_date) == "2024-07-15"
    assert result.signals["ACME"].stale and str(result.signals["ACME"].data_as_of) == "2024-07-03"
    assert result.status == "partial" and result.stale == ["ACME"]
