"""Market data and news providers: offline over CSVs, live over loopback Yahoo stand-ins."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from orchestrator_stubs import YahooStub

from orchestrator.common.clock import close_of
from orchestrator.data.market import MarketDataError, OfflineMarketData, YahooMarketData
from orchestrator.data.news import Article, NewsError, OfflineNews, dedupe, name_pattern, parse_rss
from premarket.data import DEMO_AS_OF


def run(coro):
    return asyncio.run(coro)


def test_offline_bars_never_see_past_as_of() -> None:
    market = OfflineMarketData(as_of=date(2022, 9, 18))  # a Sunday
    bars = run(market.history("msft", 30))
    assert len(bars) == 30 and bars.symbol == "MSFT"
    assert bars.last_date == date(2022, 9, 16)
    assert list(bars.dates) == sorted(bars.dates)
    assert bars.rows()[-1] == [
        bars.open[-1],
        bars.high[-1],
        bars.low[-1],
        bars.close[-1],
        bars.volume[-1],
    ]
    closes = run(market.closes_between("MSFT", date(2022, 9, 12), date(2022, 9, 30)))
    assert [d for d, _ in closes][-1] == date(2022, 9, 16)  # nothing after as_of
    later = run(OfflineMarketData().closes_between("MSFT", date(2022, 9, 19), date(2022, 9, 21)))
    assert [d.day for d, _ in later] == [19, 20, 21]


def test_a_user_csv_is_checked(tmp_path) -> None:
    good = tmp_path / "prices.csv"
    good.write_text(
        "\ufeffsymbol,date,open,high,low,close,volume\n"
        "ABC,2024-01-03,10,11,9,10.5,100\nABC,2024-01-02,9,10,8,9.5,100\n"
        "DEF,2024-01-02,9,10,8,9.5,100\nDEF,2024-01-03,nan,nan,nan,nan,0\n"
    )
    bars = run(OfflineMarketData(good).history("ABC", 10))
    assert bars.close == (9.5, 10.5)  # sorted by date; the BOM is accepted
    with pytest.raises(MarketDataError, match="line 5: DEF: column open"):
        run(OfflineMarketData(good).history("DEF", 10))  # refused alone, with its line
    with pytest.raises(MarketDataError, match="XYZ: not in prices.csv"):
        run(OfflineMarketData(good).history("XYZ", 10))
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,date,open,high,low,close\nABC,2024-01-02,9,10,8,9.5\n")
    with pytest.raises(MarketDataError, match=r"lacks the column\(s\) volume"):
        run(OfflineMarketData(bad).history("ABC", 10))
    worse = tmp_path / "worse.csv"
    worse.write_text("symbol,date,open,high,low,close,volume\nABC,02/01/2024,9,10,8,9.5,1\n")
    with pytest.raises(MarketDataError, match="line 2: ABC: column date is not a date YYYY-MM-DD"):
        run(OfflineMarketData(worse).history("ABC", 10))


def test_yahoo_chart_api_is_parsed_and_limited_to_as_of() -> None:
    start = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)  # a Monday, 09:30 New York
    rows = [
        (int((start + timedelta(days=k)).timestamp()), 10 + k, 11 + k, 9 + k, 10.5 + k, 1000)
        for k in range(5)
    ]
    rows[2] = (rows[2][0], None, None, None, None, None)  # Yahoo's gap: dropped
    yahoo = YahooStub({"ABC": rows}, {})
    try:

        async def go():
            async with httpx.AsyncClient() as http:
                template = yahoo.url + "/v8/finance/chart/{symbol}"
                market = YahooMarketData(http, as_of=date(2024, 3, 7), url_template=template)
                bars = await market.history("ABC", 10)
                closes = await market.closes_between("ABC", date(2024, 3, 5), date(2024, 3, 8))
                with pytest.raises(MarketDataError, match="symbol may be delisted"):
                    await market.history("NOPE", 10)
                return bars, closes

        bars, closes = run(go())
    finally:
        yahoo.stop()
    assert bars.dates == (date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 7))
    assert bars.close == (10.5, 11.5, 13.5)
    assert closes == [(date(2024, 3, 5), 11.5), (date(2024, 3, 7), 13.5), (date(2024, 3, 8), 14.5)]
    request = yahoo.requests[0]
    assert "interval=1d" in request["path"] and "period1=" in request["path"]


RSS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0"><channel><title>Yahoo! Finance: AAPL News</title>
<link>https://finance.yahoo.com/</link><description>Latest Financial News for AAPL</description>
<item><description>&lt;p&gt;iPhone demand &amp;amp; services grew.&lt;/p&gt;</description>
<guid isPermaLink="false">a1</guid><link>https://finance.yahoo.com/news/a1.html</link>
<pubDate>Tue, 20 Sep 2022 21:05:00 +0000</pubDate>
<title>Apple lifts guidance after strong quarter</title></item>
<item><guid isPermaLink="false">a2</guid><pubDate>Tue, 20 Sep 2022 18:00:00 +0000</pubDate>
<title>Apple lifts guidance after strong quarter!</title></item>
<item><title>Undated item</title></item>
<item><pubDate>Mon, 19 Sep 2022 12:00:00 +0000</pubDate><title>Old news</title></item>
</channel></rss>"""


def test_rss_items_are_parsed_windowed_and_deduplicated() -> None:
    articles = parse_rss(RSS)
    assert [a.title for a in articles][0] == "Apple lifts guidance after strong quarter"
    assert articles[0].summary == "iPhone demand & services grew."
    assert len(articles) == 3  # the undated item is skipped
    since = close_of(date(2022, 9, 19))
    window = [a for a in articles if since < a.published]
    assert [a.title for a in dedupe(window)] == ["Apple lifts guidance after strong quarter"]
    with pytest.raises(NewsError, match="not valid XML"):
        parse_rss("<rss><channel>")


def test_offline_news_match_ticker_and_company_names() -> None:
    pattern = name_pattern("AAPL")
    assert pattern.search("Apple beats") and pattern.search("$AAPL rallies")
    assert not pattern.search("Applebee's earnings") and not pattern.search("pineapple prices")
    as_of = date.fromisoformat(DEMO_AS_OF)
    news = OfflineNews()
    msft = run(news.headlines("MSFT", close_of(as_of - timedelta(days=1)), close_of(as_of)))
    assert msft and all(a.published.date() == as_of for a in msft)
    assert len({a.title.lower() for a in msft}) == len(msft)
    assert "Microsoft" in msft[0].title  # headlines naming the company come first
    # The general set (2017-2020) is matched by name: Facebook for META.
    meta = run(news.headlines("META", close_of(date(2019, 5, 8)), close_of(date(2019, 5, 10))))
    assert meta and all(name_pattern("META").search(a.title) for a in meta)
    assert run(news.headlines("ZZZZ", close_of(as_of - timedelta(days=1)), close_of(as_of))) == []


def test_article_text_is_cut_for_the_classifier() -> None:
    article = Article("Title", close_of(date(2022, 9, 20)), summary="x" * 1000)
    assert len(article.text(500)) == 500 and article.text(500).startswith("Title. ")
