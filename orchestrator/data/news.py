"""Headlines per symbol: live from the Yahoo Finance RSS feed, offline from the bundled sets.

Both answer ``await headlines(symbol, since, until)`` with de-duplicated articles published in
that window, newest first. The bundled headlines carry a date but no time; a headline dated
``d`` is taken as published at noon New York time on ``d``.
"""

from __future__ import annotations

import asyncio
import csv
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, time
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Protocol

import httpx

from orchestrator.common.clock import NEW_YORK
from premarket.data import HEADLINES_CSV, TICKER_HEADLINES_CSV
from premarket.decision import NewsText

YAHOO_RSS_URL = "https://feeds.finance.yahoo.com/rss/2.0/headline"
COMPANY_NAMES: dict[str, tuple[str, ...]] = {
    "AAPL": ("Apple",),
    "AMZN": ("Amazon",),
    "GOOGL": ("Google", "Alphabet"),
    "MSFT": ("Microsoft",),
    "NVDA": ("Nvidia", "NVIDIA"),
    "TSLA": ("Tesla",),
    "META": ("Meta Platforms", "Facebook", "Meta"),
    "JPM": ("JPMorgan", "JP Morgan", "J.P. Morgan"),
    "UNH": ("UnitedHealth",),
    "XOM": ("Exxon", "ExxonMobil"),
}
"""Names a headline may use instead of the ticker (case-sensitive, whole words)."""


class NewsError(Exception):
    """Headlines could not be fetched for a symbol."""


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    published: datetime
    summary: str = ""
    source: str = ""

    def text(self, max_chars: int, form: NewsText = "title_summary") -> str:
        """What the classifier reads, cut to ``max_chars`` (the original's 500): the title, or
        the title and the summary (``signal.news_text``)."""
        summary = self.summary if form == "title_summary" else ""
        body = f"{self.title}. {summary}" if summary else self.title
        return body[:max_chars].strip()


class NewsProvider(Protocol):
    async def headlines(self, symbol: str, since: datetime, until: datetime) -> list[Article]: ...


def dedupe(articles: list[Article]) -> list[Article]:
    """Drop repeats (the same headline from two feeds or sources), newest first."""
    seen: set[str] = set()
    unique = []
    for article in sorted(articles, key=lambda a: a.published, reverse=True):
        key = " ".join(re.findall(r"[a-z0-9]+", article.title.lower()))
        if key and key not in seen:
            seen.add(key)
            unique.append(article)
    return unique


def name_pattern(symbol: str) -> re.Pattern[str]:
    """Whole-word match of the ticker or one of the company's names."""
    words = (symbol, *COMPANY_NAMES.get(symbol, ()))
    return re.compile(r"(?<![\w$])\$?(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")


@lru_cache(maxsize=1)
def _general_headlines() -> dict[date, list[tuple[str, str]]]:
    by_day: dict[date, list[tuple[str, str]]] = {}
    with open(HEADLINES_CSV, newline="") as handle:
        for row in csv.DictReader(handle):
            by_day.setdefault(date.fromisoformat(row["date"]), []).append(
                (row["headline"].strip(), row["source"])
            )
    return by_day


@lru_cache(maxsize=1)
def _ticker_headlines() -> dict[date, dict[str, list[str]]]:
    by_day: dict[date, dict[str, list[str]]] = {}
    with open(TICKER_HEADLINES_CSV, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["date_inferred"]:  # undated rows (all of AAPL's) cannot be placed in a window
                day = by_day.setdefault(date.fromisoformat(row["date_inferred"]), {})
                day.setdefault(row["ticker"], []).append(row["Titles"].strip())
    return by_day


def _at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=NEW_YORK)


class OfflineNews:
    """Bundled headlines: a symbol's own per-ticker set, and any headline naming it."""

    async def headlines(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        """Off the event loop: the first call parses the bundled sets (tens of thousands of
        rows), and every call scans each day's headlines for the company's names."""
        return await asyncio.to_thread(self._find, symbol, since, until)

    def _find(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        pattern = name_pattern(symbol)
        first, last = since.astimezone(NEW_YORK).date(), until.astimezone(NEW_YORK).date()
        found = []
        for day in _days(first, last):
            published = _at_noon(day)
            if not since < published <= until:
                continue
            for ticker, titles in _ticker_headlines().get(day, {}).items():
                found += [
                    Article(title, published, source=f"corizzo/{ticker}")
                    for title in titles
                    if ticker == symbol or pattern.search(title)
                ]
            found += [
                Article(title, published, source=source)
                for title, source in _general_headlines().get(day, [])
                if pattern.search(title)
            ]
        # Within a day, headlines that name the company come first (dedupe keeps this order).
        found.sort(key=lambda a: pattern.search(a.title) is None)
        return dedupe(found)


def _days(first: date, last: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]


class YahooNews:
    """The Yahoo Finance RSS 2.0 headline feed (``docs/ORIGIN.md`` section 3)."""

    def __init__(
        self, client: httpx.AsyncClient, *, url: str = YAHOO_RSS_URL, timeout_s: float = 10.0
    ) -> None:
        self.client = client
        self.url = url
        self.timeout_s = timeout_s

    async def headlines(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        try:  # a deadline for the whole call: httpx's timeout restarts with every byte received
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.get(
                    self.url,
                    params={"s": symbol, "region": "US", "lang": "en-US"},
                    headers={"User-Agent": "Mozilla/5.0 (premarket orchestrator)"},
                    timeout=self.timeout_s,
                )
        except httpx.HTTPError as exc:
            raise NewsError(f"{symbol}: Yahoo RSS unreachable ({type(exc).__name__})") from None
        except TimeoutError:
            raise NewsError(
                f"{symbol}: Yahoo RSS sent no complete answer within {self.timeout_s:g} s"
            ) from None
        if response.is_error:
            raise NewsError(f"{symbol}: Yahoo RSS answered HTTP {response.status_code}")
        articles = parse_rss(response.text)
        return dedupe([a for a in articles if since < a.published <= until])


INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (one ``\\x01`` in a feed's text made the run's whole sentiment request
fail) and bidirectional overrides (which make a stored headline read backwards on screen)."""


def plain(text: str) -> str:
    """``text`` without control or bidirectional-override characters, whitespace collapsed."""
    return " ".join(INVISIBLE.sub(" ", text).split())


def parse_rss(xml_text: str) -> list[Article]:
    """Items of an RSS 2.0 document; items without a title or a valid pubDate are skipped."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise NewsError(f"RSS feed is not valid XML ({exc})") from None
    articles = []
    for item in root.iter("item"):
        title = plain(item.findtext("title") or "")
        try:
            published = parsedate_to_datetime(item.findtext("pubDate") or "")
        except (TypeError, ValueError):
            continue
        if not title or published.tzinfo is None:
            continue
        # The description is HTML inside XML: strip the tags, then decode its entities.
        summary = html.unescape(re.sub(r"<[^>]+>", " ", item.findtext("description") or ""))
        articles.append(
            Article(
                title=title,
                published=published,
                summary=plain(summary),
                source=plain(item.findtext("source") or "yahoo"),
            )
        )
    return articles
