"""Alert channels against local stand-ins: Apprise's real Slack, LINE and email plugins, our
Messenger sender, and the Slack webhook sender, each posting to a loopback server.

The Slack and LINE plugins post to fixed cloud addresses; the tests point those class attributes
at a loopback recorder (the cloud is the one thing replaced). Email goes to a real SMTP server
(aiosmtpd). Every message must carry symbol, action, probability, price, range, tier and
reasoning; a SELL is red and a BUY green; dedupe and retries hold; no credential is logged.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from email import message_from_bytes
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from orchestrator_stubs import ModelStub, Recorder, make_settings
from pydantic import SecretStr
from run_documents import signal

from orchestrator.documents.run import SymbolSignal
from orchestrator.jobs.analysis import run_analysis
from orchestrator.notify.alerts import AlertSender, dispatch
from orchestrator.notify.messages import SignalFacts, digest_alert, signal_alerts
from orchestrator.storage.store import Store
from premarket.settings import AlertSettings
from serving.launch import free_port

SLACK = ("T1ABCDEFG", "B2ABCDEFG", "slackSecretToken1234abcd")
LINE_TOKEN = "lineChannelToken9f8e7d6c5b4a"
PAGE_TOKEN = "pageToken-5e4d3c2b1a0f"
DAY = date(2022, 9, 21)
GREEN, RED = "#3AA337", "#A32037"


def signals() -> dict[str, SymbolSignal]:
    band = {"p10": 97.25, "p50": 101.0, "p90": 104.75}
    return {
        "AAPL": SymbolSignal.model_validate(
            signal(100.0, action="BUY STRONG", confidence=0.9, predicted=101.5, quantiles=band)
        ),
        "TSLA": SymbolSignal.model_validate(
            signal(200.0, action="SELL STRONG", confidence=0.88, predicted=196.0, tier="nhits")
        ),
        "MSFT": SymbolSignal.model_validate(signal(300.0, action="HOLD", confidence=0.95)),
    }


def assert_carries_the_facts(text: str, facts: SignalFacts) -> None:
    for part in (
        facts.symbol,
        facts.action,
        f"{facts.probability:.1%}",
        f"{facts.price:.2f}",
        f"{facts.predicted:.2f}",
        {"tft": "TFT", "nhits": "N-HITS"}[facts.tier],
        facts.reasoning,
    ):
        assert part in text, part
    if facts.p10 is not None:
        assert f"{facts.p10:.2f}-{facts.p90:.2f}" in text


def plain_text(mail) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def stand_ins(monkeypatch):
    """Loopback Slack, LINE and Messenger recorders and an SMTP server; the plugins pointed at
    them."""
    from apprise.plugins.line import NotifyLine
    from apprise.plugins.slack import NotifySlack

    slack, line, messenger = Recorder(), Recorder(), Recorder(statuses=[503])
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    monkeypatch.setattr(NotifySlack, "webhook_url", f"{slack.url}/services")
    monkeypatch.setattr(NotifyLine, "notify_url", f"{line.url}/v2/bot/message/push")
    yield slack, line, messenger, mailbox, smtp.port
    smtp.stop()
    for server in (slack, line, messenger):
        server.stop()


def settings_for(slack, line, messenger, smtp_port) -> AlertSettings:
    urls = " ".join(
        [
            "slack://" + "/".join(SLACK),
            f"line://{LINE_TOKEN}/U4af4980629",
            f"mailto://127.0.0.1:{smtp_port}?from=premarket@example.com&to=desk@example.com",
        ]
    )
    return AlertSettings(
        apprise_urls=SecretStr(urls),
        messenger_page_token=SecretStr(PAGE_TOKEN),
        messenger_recipients=["6543210987"],
        messenger_url=f"{messenger.url}/v21.0/me/messages",
        backoff_s=0.01,
        timeout_s=5.0,
    )


def test_every_channel_gets_the_facts_sell_red_buy_green_once(stand_ins, tmp_path, caplog):
    slack, line, messenger, mailbox, smtp_port = stand_ins
    caplog.set_level(logging.DEBUG)
    store = Store(f"sqlite:///{tmp_path / 'alerts.db'}")
    found = signals()
    alerts = signal_alerts(found, 0.85)
    assert [a.symbol for a in alerts] == ["AAPL", "TSLA"]  # HOLD is never alerted

    async def send() -> list:
        async with httpx.AsyncClient() as http:
            sender = AlertSender(settings_for(slack, line, messenger, smtp_port), http)
            assert sorted(sender.channels) == [
                "apprise:line",
                "apprise:mailto",
                "apprise:slack",
                "messenger",
            ]
            first = await dispatch(alerts, sender=sender, store=store, business_date=DAY)
            again = await dispatch(alerts, sender=sender, store=store, business_date=DAY)
            return first + again

    records = asyncio.run(send())
    store.close()
    sent, repeated = records[:2], records[2:]
    for record in sent:
        assert sorted(record.delivered) == [
            "apprise:line",
            "apprise:mailto",
            "apprise:slack",
            "messenger",
        ]
        assert record.errors is None
    assert all(r.duplicate and not r.delivered for r in repeated)

    buy, sell = (SignalFacts.of(s, found[s]) for s in ("AAPL", "TSLA"))
    # Slack (Apprise's plugin): one message per alert, coloured by the action.
    assert len(slack.received) == 2
    by_symbol = {m["attachments"][0]["title"].split()[2]: m for m in slack.received}
    assert by_symbol["AAPL"]["attachments"][0]["color"] == GREEN
    assert by_symbol["TSLA"]["attachments"][0]["color"] == RED
    assert_carries_the_facts(by_symbol["AAPL"]["attachments"][0]["text"], buy)
    assert_carries_the_facts(by_symbol["TSLA"]["attachments"][0]["text"], sell)
    # LINE (Apprise's plugin): the channel token as a bearer token, the facts in the text.
    assert len(line.received) == 2
    assert all(r["headers"]["Authorization"] == f"Bearer {LINE_TOKEN}" for r in line.requests)
    texts = sorted(m["messages"][0]["text"] for m in line.received)
    assert_carries_the_facts(texts[0], buy)
    assert_carries_the_facts(texts[1], sell)
    # Email (Apprise's plugin) to a real SMTP server.
    assert len(mailbox.messages) == 2
    mails = {m["Subject"]: plain_text(m) for m in mailbox.messages}
    subject = next(s for s in mails if "TSLA" in s)
    assert "SELL STRONG" in subject
    assert_carries_the_facts(mails[subject], sell)
    # Messenger (our sender): the first try answered 503, the retry delivered; once per alert.
    assert len(messenger.received) == 2
    query = parse_qs(urlsplit(messenger.requests[-1]["path"]).query)
    assert query["access_token"] == [PAGE_TOKEN]
    message = messenger.received[0]
    assert message["recipient"] == {"id": "6543210987"}
    assert message["messaging_type"] == "UPDATE"
    assert_carries_the_facts(
        message["message"]["text"], buy if "AAPL" in message["message"]["text"] else sell
    )
    # No credential in any log line (httpx's request log, Apprise's debug log).
    logged = caplog.text
    assert "httpx" in {r.name for r in caplog.records} and "apprise" in logged.lower()
    for secret in (*SLACK, LINE_TOKEN, PAGE_TOKEN):
        assert secret not in logged


def test_the_slack_webhook_sender_colours_by_action_and_quotes_the_figures():
    slack = Recorder(statuses=[500])
    found = signals()
    alerts = signal_alerts(found, 0.85)

    async def send() -> list:
        async with httpx.AsyncClient() as http:
            settings = AlertSettings(
                slack_webhook_url=SecretStr(f"{slack.url}/hook"), backoff_s=0.01
            )
            return await dispatch(
                alerts, sender=AlertSender(settings, http), store=None, business_date=DAY
            )

    try:
        records = asyncio.run(send())
    finally:
        slack.stop()
    assert [r.delivered for r in records] == [["slack"], ["slack"]]
    colours = {
        m["attachments"][0]["fields"][0]["value"]: m["attachments"][0]["color"]
        for m in slack.received
    }
    assert colours == {"AAPL": "good", "TSLA": "danger"}
    for m in slack.received:
        symbol = m["attachments"][0]["fields"][0]["value"]
        assert_carries_the_facts(m["attachments"][0]["text"], SignalFacts.of(symbol, found[symbol]))


def test_a_channel_that_stays_down_reports_its_error_and_is_retried_next_run(tmp_path):
    messenger = Recorder(statuses=[503] * 3)
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    alert = signal_alerts(signals(), 0.85)[0]

    async def send() -> list:
        async with httpx.AsyncClient() as http:
            settings = AlertSettings(
                messenger_page_token=SecretStr(PAGE_TOKEN),
                messenger_recipients=["1"],
                messenger_url=messenger.url,
                tries=3,
                backoff_s=0.01,
            )
            sender = AlertSender(settings, http)
            first = await dispatch([alert], sender=sender, store=store, business_date=DAY)
            second = await dispatch([alert], sender=sender, store=store, business_date=DAY)
            return first + second

    try:
        failed, retried = asyncio.run(send())
    finally:
        messenger.stop()
        store.close()
    assert failed.delivered == [] and failed.errors == {
        "messenger": "messenger: HTTP 503 (after 3 tries)"
    }
    assert PAGE_TOKEN not in str(failed.errors)
    assert retried.delivered == ["messenger"] and not retried.duplicate


def test_an_unusable_apprise_url_is_refused_with_the_settings(tmp_path) -> None:
    """At start-up, naming the entry and its scheme, never the URL's credentials (issue 28,
    item 7), through the real command: not when the first alert is sent."""
    from orchestrator_stubs import run_cli

    with pytest.raises(ValueError, match=r"entry 2 \(nosuchservice://\.\.\.\) is not a URL"):
        AlertSettings(apprise_urls=SecretStr("json://localhost nosuchservice://abcdefgh12345678"))
    result = run_cli(
        tmp_path, "crontab", env={"PREMARKET_ALERTS__APPRISE_URLS": "nosuchservice://s3cretpass@x"}
    )
    assert result.returncode == 2 and "alerts.apprise_urls" in result.stderr
    assert "s3cretpass" not in result.stderr + result.stdout


def test_the_digest_is_one_message_with_every_signal(stand_ins):
    slack, *_ = stand_ins
    found = signals()

    class Result:  # the parts of a RunResult the digest reads
        business_date, status, slot, run_id = DAY, "ok", "06:30", "run_x_abcdef"
        symbols_analyzed = [*found, "ZZZZ"]
        performance_metrics = type(
            "M", (), {"signal_distribution": {"BUY": 1, "SELL": 1, "HOLD": 1}}
        )
        signals = found

    digest = digest_alert(Result)  # type: ignore[arg-type]
    assert digest.action == "DIGEST 06:30"
    assert "1 BUY, 1 SELL, 1 HOLD (3/4 analysed" in digest.message

    async def send() -> list:
        async with httpx.AsyncClient() as http:
            settings = AlertSettings(apprise_urls=SecretStr("slack://" + "/".join(SLACK)))
            return await dispatch(
                [digest], sender=AlertSender(settings, http), store=None, business_date=DAY
            )

    (record,) = asyncio.run(send())
    assert record.delivered == ["apprise:slack"]
    (message,) = slack.received
    text = message["attachments"][0]["text"]
    for symbol, s in found.items():
        assert_carries_the_facts(text, SignalFacts.of(symbol, s))


def test_a_run_with_the_digest_on_sends_one_message_with_all_its_signals(tmp_path):
    stubs = [
        ModelStub("forecast"),
        ModelStub("forecast", "N-HITS (Backup)"),
        ModelStub("sentiment"),
    ]
    slack = Recorder()
    settings = make_settings(tmp_path, *(s.url for s in stubs))
    settings.alerts.slack_webhook_url = SecretStr(f"{slack.url}/hook")
    settings.alerts.digest = True
    try:
        result = asyncio.run(
            run_analysis(
                settings, symbols=["AAPL", "MSFT", "NVDA"], as_of=date(2022, 9, 15), offline=True
            )
        )
    finally:
        for server in (*stubs, slack):
            server.stop()
    digests = [a for a in result.alerts if a.level == "DIGEST"]
    assert len(digests) == 1 and digests[0].delivered == ["slack"]
    (message,) = [m for m in slack.received if m["text"].startswith("Pre-market signals")]
    shown = [a["fields"][0]["value"] for a in message["attachments"]]
    assert shown == ["AAPL", "MSFT", "NVDA"]
    for symbol, attachment in zip(shown, message["attachments"], strict=True):
        assert_carries_the_facts(attachment["text"], SignalFacts.of(symbol, result.signals[symbol]))
        colour = {"BUY": "good", "SELL": "danger", "HOLD": "#439FE0"}[result.signals[symbol].side]
        assert attachment["color"] == colour


def test_every_alert_names_its_morning_run_and_dashboard() -> None:
    from orchestrator.notify.messages import Alert, body, dashboard_link, slack_payload
    from premarket.settings import Settings

    alert = Alert("RUN_FAILED", "*", "RUN_FAILED", "failed")
    alert.business_date, alert.run_id = "2024-07-02", "run_2024_07_02T10_30_00_000Z_abc123"
    alert.link = dashboard_link(Settings(alerts={"dashboard_url": "https://pm.example/"}))
    text = body(alert)
    assert "Business date: 2024-07-02\n" in text and "Dashboard: https://pm.example/\n" in text
    assert "Run: run_2024_07_02T10_30_00_000Z_abc123" in text
    assert slack_payload(alert)["text"].endswith(
        "for 2024-07-02 · run run_2024_07_02T10_30_00_000Z_abc123 · https://pm.example/"
    )
    assert (
        dashboard_link(Settings(api={"host": "10.1.2.3", "port": 8080})) == "http://10.1.2.3:8080/"
    )
