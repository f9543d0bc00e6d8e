"""Whole runs against loopback stand-ins: model services, Slack, a webhook and an SMTP server."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orchestrator_stubs as stubs
import pytest
from aiosmtpd.controller import Controller
from orchestrator_stubs import (
    Recorder,
    YahooStub,
    keyword_scores,
    make_settings,
    model_stubs,
)
from pydantic import SecretStr

from orchestrator.common.clock import close_of
from orchestrator.jobs.analysis import run_analysis
from orchestrator.storage.store import Store
from premarket.data import DEMO_AS_OF
from serving.launch import free_port

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date.fromisoformat(DEMO_AS_OF)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        self.messages.append(envelope.content.decode())
        return "250 Message accepted"


@pytest.fixture
def services():
    with model_stubs() as stubs:
        yield stubs


@pytest.fixture
def channels():
    slack, webhook = Recorder(), Recorder(statuses=[500])  # the webhook fails once
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    yield {"slack": slack, "webhook": webhook, "mailbox": mailbox, "smtp_port": smtp.port}
    smtp.stop()
    slack.stop()
    webhook.stop()


def settings_for(tmp_path: Path, services: dict, channels: dict | None = None, **kw):
    settings = make_settings(
        tmp_path, services["tft"].url, services["nhits"].url, services["sentiment"].url, **kw
    )
    if channels:
        settings.alerts.slack_webhook_url = SecretStr(channels["slack"].url + "/services/T0/xyz")
        settings.alerts.webhook_url = SecretStr(channels["webhook"].url + "/hook")
        settings.alerts.smtp_host = "127.0.0.1"
        settings.alerts.smtp_port = channels["smtp_port"]
        settings.alerts.email_to = ["desk@example.com"]
        settings.alerts.backoff_s = 0.01
        settings.alerts.confidence_threshold = 0.8
    return settings


def analyze(settings, **kwargs) -> dict:
    return asyncio.run(run_analysis(settings, **kwargs)).to_document()


def test_offline_run_end_to_end_with_alerts_once(tmp_path: Path, services, channels) -> None:
    settings = settings_for(tmp_path, services, channels)
    doc = analyze(settings, symbols=["MSFT", "TSLA"], as_of=AS_OF, offline=True, slot="06:30")

    assert doc["status"] == "ok" and doc["business_date"] == "2022-09-21"
    assert doc["as_of"] == DEMO_AS_OF and doc["slot"] == "06:30"
    assert set(doc) >= {
        "run_id",
        "timestamp",
        "symbols_analyzed",
        "trading_signals",
        "alerts",
        "performance_metrics",
        "errors",
    }
    metrics = doc["performance_metrics"]
    assert metrics["success_rate"] == 100.0 and metrics["tier_counts"]["tft"] == 2
    assert metrics["signal_distribution"]["BUY"] == 2
    msft = doc["trading_signals"]["MSFT"]
    assert msft["action"] == "BUY STRONG" and 0 <= msft["confidence"] <= 1
    assert msft["components"]["price_prediction"]["model_used"] == "TFT (Primary)"
    assert msft["reasoning"].startswith("UP price prediction (TFT (Primary)) + ")

    # Sentiment: one batched request for the whole run; score = P(positive) - P(negative).
    assert len(services["sentiment"].requests) == 1
    news = msft["components"]["sentiment_analysis"]
    assert news["source"] == "model" and 1 <= news["article_count"] <= 3
    expected = [keyword_scores(a["title"]) for a in news["articles"]]
    scores = [dict(zip(e["labels"], e["scores"], strict=True)) for e in expected]
    average = sum(s["positive"] - s["negative"] for s in scores) / len(scores)
    assert news["signal"] == pytest.approx(average, abs=1e-4)

    # Alerts went out on all three channels, the webhook after one retry.
    high = [a for a in doc["alerts"] if a["level"] == "HIGH_CONFIDENCE"]
    assert {a["symbol"] for a in high} == {"MSFT", "TSLA"}
    assert all(sorted(a["delivered"]) == ["email", "slack", "webhook"] for a in high)
    assert len(channels["slack"].received) == 2 and len(channels["webhook"].received) == 2
    assert "High confidence signal: MSFT - BUY STRONG" in json.dumps(channels["slack"].received)
    assert len(channels["mailbox"].messages) == 2

    # Stored whole, and a second run the same morning sends nothing twice.
    again = analyze(settings, symbols=["MSFT", "TSLA"], as_of=AS_OF, offline=True, slot="07:00")
    assert all(a["duplicate"] for a in again["alerts"])
    assert len(channels["slack"].received) == 2 and len(channels["mailbox"].messages) == 2
    store = Store(settings.database_url)
    try:
        assert store.run_for_date(date(2022, 9, 21)).run_id == again["run_id"]
        assert len(store.forecasts(symbol="MSFT")) == 2
    finally:
        store.close()
    # No secret in the stored document.
    assert "/services/T0/xyz" not in json.dumps(again)


def test_primary_down_backup_answers_and_the_outage_alerts_once(
    tmp_path: Path, services, channels
) -> None:
    services["tft"].stop()
    settings = settings_for(tmp_path, services, channels)
    doc = analyze(settings, symbols=["MSFT", "AAPL"], as_of=AS_OF, offline=True)
    assert doc["performance_metrics"]["tier_counts"] == {
        "tft": 0,
        "nhits": 2,
        "ensemble": 0,
        "statistical": 0,
    }
    price = doc["trading_signals"]["AAPL"]["components"]["price_prediction"]
    assert (
        price["model_used"] == "N-HITS (Backup)"
        and "tft: cannot connect" in price["fallback_reason"]
    )
    outage = [a for a in doc["alerts"] if a["level"] == "SERVICE_UNREACHABLE"]
    assert [a["symbol"] for a in outage] == ["tft"] and outage[0]["delivered"]
    again = analyze(settings, symbols=["MSFT"], as_of=AS_OF, offline=True)
    assert [a["duplicate"] for a in again["alerts"] if a["symbol"] == "tft"] == [True]


def test_too_little_history_is_an_error_and_the_failed_run_alerts(
    tmp_path: Path, services, channels
) -> None:
    settings = settings_for(tmp_path, services, channels)
    doc = analyze(settings, symbols=["AAPL"], as_of=date(2015, 1, 20), offline=True)
    assert doc["status"] == "failed"
    error = doc["trading_signals"]["AAPL"]["error"]
    assert "insufficient history: 12 daily bars up to 2015-01-20" in error
    assert "at least 30" in error
    assert services["tft"].requests == []  # never a silent fallback
    failed = [a for a in doc["alerts"] if a["level"] == "RUN_FAILED"]
    assert failed and failed[0]["delivered"]
    assert "RUN_FAILED" in channels["mailbox"].messages[0]


@pytest.mark.parametrize("window", ["previous_session", "overnight"])
def test_live_run_reads_yahoo_chart_and_rss(tmp_path: Path, services, window) -> None:
    """The chart and the feed, each headline read in the configured window: by default the
    session before the business date (what the decision model was fitted on), else overnight
    (then the probability is the base rate and says why)."""
    now = datetime.now(UTC)
    day = now.date() - timedelta(days=1)
    bars = []
    for k in range(60, 0, -1):
        stamp = int(datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC).timestamp())
        stamp -= k * 86400
        price = 100.0 + k * 0.1
        bars.append((stamp, price, price + 1, price - 1, price + 0.2, 1_000_000))
    bars.append((bars[-1][0] + 86400, None, None, None, None, None))  # a missing row: dropped
    rfc = "%a, %d %b %Y %H:%M:%S +0000"
    pub = (now - timedelta(hours=1)).strftime(rfc)
    old = (now - timedelta(days=30)).strftime(rfc)
    last_bar = day - timedelta(days=1)
    in_session = (close_of(last_bar) - timedelta(hours=3)).astimezone(UTC).strftime(rfc)
    rss = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Yahoo! Finance: ACME News</title>
<item><title>ACME beats estimates, shares surge</title><link>https://x/1</link>
<description>Record quarter.</description><pubDate>{pub}</pubDate><guid>1</guid></item>
<item><title>ACME beats estimates, shares surge</title><link>https://x/2</link>
<pubDate>{pub}</pubDate><guid>2</guid></item>
<item><title>ACME wins a record contract, stock jumps</title><link>https://x/4</link>
<description>A big order.</description><pubDate>{in_session}</pubDate><guid>4</guid></item>
<item><title>ACME plunge last month</title><pubDate>{old}</pubDate><guid>3</guid></item>
</channel></rss>"""
    yahoo = YahooStub({"ACME": bars}, {"ACME": rss})
    try:
        settings = settings_for(tmp_path, services)
        settings.yahoo_chart_url = yahoo.url + "/v8/finance/chart/{symbol}"
        settings.yahoo_rss_url = yahoo.url + "/rss/2.0/headline"
        settings.signal.news_window, settings.signal.mode = window, "calibrated"
        doc = analyze(settings, symbols=["ACME", "GONE"])
    finally:
        yahoo.stop()
    acme = doc["trading_signals"]["ACME"]
    assert acme["success"] and acme["data_as_of"] == last_bar.isoformat()
    assert acme["current_price"] == pytest.approx(100.3)
    news = acme["components"]["sentiment_analysis"]
    assert news["article_count"] == 1 and news["sentiment"] == "BULLISH"  # deduped, windowed
    (article,) = news["articles"]
    read = {"previous_session": "record contract", "overnight": "beats estimates"}[window]
    assert read in article["title"] and news["news_window"] == window
    assert news["news_text"] == "title"
    if window == "overnight":  # not what the bundled decision model was fitted on
        assert not acme["calibrated"] and "overnight window" in acme["uncalibrated_reason"]
    assert "delisted" in doc["trading_signals"]["GONE"]["error"]
    assert doc["status"] == "partial"


def run_cli(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI on the original rule: the stubs' confidences suit it."""
    return stubs.run_cli(
        tmp_path, *args, env={"PREMARKET_SIGNAL__MODE": "original", **(env or {})}, timeout=120
    )


def test_cli_analyze_prints_a_table_and_writes_json(tmp_path: Path, services) -> None:
    env = {f"PREMARKET_{n.upper()}__URL": s.url for n, s in services.items()}
    out = tmp_path / "out" / "run.json"
    result = run_cli(
        tmp_path,
        "analyze",
        "--offline",
        "--as-of",
        DEMO_AS_OF,
        "--symbols",
        "MSFT,TSLA",
        "--json",
        str(out),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "MSFT" in result.stdout and "BUY STRONG" in result.stdout and "TFT" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["business_date"] == "2022-09-21" and doc["symbols_analyzed"] == ["MSFT", "TSLA"]

    failed = run_cli(tmp_path, "analyze", "--offline", "--as-of", "2014-01-02", env=env)
    assert failed.returncode == 1 and "run failed" in failed.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["analyze", "--as-of", "2022-13-01"], {}, "is not a date"),
        (["analyze", "--offline", "--prices", "missing.csv"], {}, "missing.csv does not exist"),
        (["analyze"], {"PREMARKET_CHAIN__RETRIES": "many"}, "chain.retries"),
        (["nonsense"], {}, "invalid choice"),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, args, env, message) -> None:
    result = run_cli(tmp_path, *args, env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_a_dead_channel_does_not_stop_the_run_and_is_retried_later(
    tmp_path: Path, services, channels
) -> None:
    settings = settings_for(tmp_path, services, channels)
    settings.alerts.webhook_url = SecretStr("http://127.0.0.1:9/hook")
    settings.alerts.smtp_host = None
    doc = analyze(settings, symbols=["MSFT"], as_of=AS_OF, offline=True)
    alert = doc["alerts"][0]
    assert alert["delivered"] == ["slack"]
    assert alert["errors"]["webhook"] == "webhook: ConnectError (after 3 tries)"
    assert "127.0.0.1:9" not in json.dumps(doc)  # the secret URL is never in the result

    # With every channel down the claim is released, so the next run tries again.
    settings.alerts.slack_webhook_url = SecretStr("http://127.0.0.1:9/slack")
    settings.alerts.confidence_threshold = 0.5
    first = analyze(settings, symbols=["TSLA"], as_of=AS_OF, offline=True)
    second = analyze(settings, symbols=["TSLA"], as_of=AS_OF, offline=True)
    for doc in (first, second):
        (alert,) = [a for a in doc["alerts"] if a["symbol"] == "TSLA"]
        assert alert["delivered"] == [] and not alert["duplicate"]


def test_a_hanging_sentiment_service_times_out_and_the_run_completes(
    tmp_path: Path, services
) -> None:
    settings = settings_for(tmp_path, services)
    settings.sentiment.timeout_s = 0.3
    services["sentiment"].hang_s = 2.0
    services["sentiment"].faults += ["hang", "hang"]
    doc = analyze(settings, symbols=["MSFT", "TSLA"], as_of=AS_OF, offline=True)
    assert doc["status"] == "ok"
    news = doc["trading_signals"]["MSFT"]["components"]["sentiment_analysis"]
    assert news["source"] == "unavailable" and "no answer within 0.3 s" in news["error"]
    assert doc["trading_signals"]["MSFT"]["reasoning"].endswith("(sentiment service unavailable)")
    assert [a["symbol"] for a in doc["alerts"] if a["level"] == "SERVICE_UNREACHABLE"] == [
        "sentiment"
    ]
    assert doc["breakers"]["sentiment"]["failures"] == 1


def test_a_store_that_cannot_be_opened_fails_the_run(tmp_path: Path, services) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings = settings_for(tmp_path, services)
    settings.database_url = f"sqlite:///{blocker / 'db.sqlite'}"
    doc = analyze(settings, symbols=["MSFT"], as_of=AS_OF, offline=True)
    assert doc["status"] == "failed"
    assert [e["stage"] for e in doc["errors"]] == ["store"]
    assert doc["trading_signals"]["MSFT"]["success"]  # the analysis itself is still returned
