"""Daily bars: a live Yahoo Finance provider and an offline one over a CSV.

Both answer ``await history(symbol, days)`` with the last ``days`` daily bars, oldest first, and
``await closes_between(symbol, start, end)`` with realized closes (accuracy tracking scores
forecasts with them) and ``await bars_between(...)`` with opens and closes (paper trading fills
at the open after a run and marks at closes). The offline provider sees only rows dated on or
before ``as_of``, so a replay of a past morning cannot look ahead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx

from orchestrator.common.clock import utc_now
from premarket.data import PRICES_CSV
from premarket.prices import PriceFileError, PriceTable, read_prices

YAHOO_CHART_URL = "https://query1.finance.yahoo.com/v8/finance/chart/{symbol}"
USER_AGENT = "Mozilla/5.0 (premarket orchestrator)"
"""Yahoo refuses requests without a browser-like agent with 429s."""


class MarketDataError(Exception):
    """No usable bars for a symbol; the message says why (it goes into the result)."""


@dataclass(frozen=True, slots=True)
class Bars:
    """Daily OHLCV bars of one symbol, oldest first."""

    symbol: str
    dates: tuple[date, ...]
    open: tuple[float, ...]
    high: tuple[float, ...]
    low: tuple[float, ...]
    close: tuple[float, ...]
    volume: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.dates)

    def rows(self) -> list[list[float]]:
        """``sequence_data`` rows ``[open, high, low, close, volume]`` for the forecast services."""
        return [
            [o, h, lo, c, v]
            for o, h, lo, c, v in zip(
                self.open, self.high, self.low, self.close, self.volume, strict=True
            )
        ]

    def tail(self, days: int) -> Bars:
        return Bars(
            self.symbol,
            self.dates[-days:],
            self.open[-days:],
            self.high[-days:],
            self.low[-days:],
            self.close[-days:],
            self.volume[-days:],
        )

    def until(self, day: date) -> Bars:
        """The bars dated on or before ``day`` (they are sorted, so a prefix)."""
        keep = sum(1 for d in self.dates if d <= day)
        return Bars(
            self.symbol,
            self.dates[:keep],
            self.open[:keep],
            self.high[:keep],
            self.low[:keep],
            self.close[:keep],
            self.volume[:keep],
        )

    @property
    def last_date(self) -> date:
        return self.dates[-1]


def bars_from_rows(symbol: str, rows: list[tuple[date, float, float, float, float, float]]) -> Bars:
    """Bars from ``(date, open, high, low, close, volume)`` tuples sorted by date."""
    if not rows:
        return Bars(symbol, (), (), (), (), (), ())
    dates, o, h, lo, c, v = zip(*rows, strict=True)
    return Bars(symbol, dates, o, h, lo, c, v)


class MarketData(Protocol):
    @property
    def source(self) -> str:
        """Where the bars come from, in words (a book records it: ``tracking.books``)."""
        ...

    async def history(self, symbol: str, days: int) -> Bars: ...

    async def closes_between(
        self, symbol: str, start: date, end: date
    ) -> list[tuple[date, float]]: ...

    async def bars_between(
        self, symbol: str, start: date, end: date
    ) -> list[tuple[date, float, float]]: ...


@lru_cache(maxsize=4)
def _price_table(path: str, _mtime_ns: int) -> PriceTable:
    """The price file parsed once per file version, by the one strict parser."""
    return read_prices(path)


@lru_cache(maxsize=256)
def _symbol_rows(path: str, mtime_ns: int, symbol: str) -> tuple[tuple, ...]:
    """One symbol's ``(date, open, high, low, close, volume)`` rows, once per file version."""
    try:
        frame = _price_table(path, mtime_ns).frame(symbol)
    except PriceFileError as exc:  # the file, or this symbol's rows, refused: say where
        raise MarketDataError(str(exc.problems[0]) if exc.symbols else _named(exc)) from None
    columns = (frame[c].tolist() for c in ("open", "high", "low", "close", "volume"))
    return tuple(zip((d.date() for d in frame["date"]), *columns, strict=True))


def _named(exc: PriceFileError) -> str:
    """The problem by the file's name: run errors are served by ``/results``, folders are not."""
    return str(exc).replace(str(exc.path), exc.path.name)


class OfflineMarketData:
    """Bars from the bundled prices or any CSV with ``symbol,date,open,high,low,close,volume``."""

    def __init__(self, csv_path: Path | str | None = None, as_of: date | None = None) -> None:
        self.csv_path = Path(csv_path) if csv_path is not None else PRICES_CSV
        self.as_of = as_of

    @property
    def source(self) -> str:
        bundled = self.csv_path == PRICES_CSV
        return "the bundled prices" if bundled else f"the price file {self.csv_path.resolve()}"

    def _version(self) -> int:
        try:
            return self.csv_path.stat().st_mtime_ns
        except OSError as exc:
            raise MarketDataError(
                f"{self.csv_path.name}: cannot be read ({exc.strerror})"
            ) from None

    def _rows(self, symbol: str) -> tuple[tuple, ...]:
        rows = _symbol_rows(str(self.csv_path), self._version(), symbol.upper())
        if not rows:
            raise MarketDataError(f"{symbol}: not in {self.csv_path.name}")
        if self.as_of is not None:
            rows = tuple(r for r in rows if r[0] <= self.as_of)
            if not rows:
                raise MarketDataError(f"{symbol}: no bars on or before {self.as_of}")
        return rows

    def last_date(self) -> date:
        """The last date of any symbol in the file: where an offline run without ``as_of`` stands."""
        try:
            table = _price_table(str(self.csv_path), self._version())
        except PriceFileError as exc:
            raise MarketDataError(_named(exc)) from None
        if not table.frames:
            raise MarketDataError(f"{self.csv_path.name}: no usable rows")
        return max(frame["date"].iloc[-1].date() for frame in table.frames.values())

    # Parsing a price file is blocking work (about 0.5 s for the bundled one, once per file
    # version): a worker thread keeps the event loop, and the API's /health, free meanwhile.

    async def history(self, symbol: str, days: int) -> Bars:
        rows = await asyncio.to_thread(self._rows, symbol)
        return bars_from_rows(symbol.upper(), list(rows[-days:]))

    async def closes_between(self, symbol: str, start: date, end: date) -> list[tuple[date, float]]:
        rows = await asyncio.to_thread(self._rows, symbol)
        return [(r[0], r[4]) for r in rows if start <= r[0] <= end]

    async def bars_between(
        self, symbol: str, start: date, end: date
    ) -> list[tuple[date, float, float]]:
        rows = await asyncio.to_thread(self._rows, symbol)
        return [(r[0], r[1], r[4]) for r in rows if start <= r[0] <= end]


class YahooMarketData:
    """Bars from the Yahoo Finance chart API (``docs/ORIGIN.md`` section 4)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        as_of: date | None = None,
        url_template: str = YAHOO_CHART_URL,
        timeout_s: float = 10.0,
    ) -> None:
        self.client = client
        self.as_of = as_of
        self.url_template = url_template
        self.source = f"the Yahoo chart API ({urlsplit(url_template).netloc})"
        self.timeout_s = timeout_s

    async def _fetch(self, symbol: str, start: date, end: date) -> Bars:
        period1 = int(datetime.combine(start, datetime.min.time(), tzinfo=UTC).timestamp())
        period2 = int(
            datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC).timestamp()
        )
        try:  # a deadline for the whole call: httpx's timeout restarts with every byte received
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.get(
                    self.url_template.format(symbol=quote(symbol, safe="")),  # ^GSPC, EURUSD=X
                    params={"period1": period1, "period2": period2, "interval": "1d"},
                    headers={"User-Agent": USER_AGENT},
                    timeout=self.timeout_s,
                )
        except httpx.HTTPError as exc:
            raise MarketDataError(
                f"{symbol}: Yahoo chart API unreachable ({type(exc).__name__})"
            ) from None
        except TimeoutError:
            raise MarketDataError(
                f"{symbol}: Yahoo chart API sent no complete answer within {self.timeout_s:g} s"
            ) from None
        try:
            chart = response.json()["chart"]
        except (ValueError, KeyError, TypeError):
            raise MarketDataError(
                f"{symbol}: Yahoo chart API answered HTTP {response.status_code} without a chart"
            ) from None
        if chart.get("error") or not chart.get("result"):
            error = chart.get("error") or {}
            raise MarketDataError(
                f"{symbol}: Yahoo chart API: {error.get('description') or 'no data'}"
            )
        return _parse_chart(symbol, chart["result"][0], end)

    async def history(self, symbol: str, days: int) -> Bars:
        end = self.as_of or utc_now().date()
        # Trading days are about 252 of 365; ask for enough calendar days plus holidays.
        start = end - timedelta(days=int(days * 365 / 252) + 10)
        return (await self._fetch(symbol, start, end)).tail(days)

    async def closes_between(self, symbol: str, start: date, end: date) -> list[tuple[date, float]]:
        return [(d, c) for d, _, c in await self.bars_between(symbol, start, end)]

    async def bars_between(
        self, symbol: str, start: date, end: date
    ) -> list[tuple[date, float, float]]:
        bars = await self._fetch(symbol, start, end)
        rows = zip(bars.dates, bars.open, bars.close, strict=True)
        return [(d, o, c) for d, o, c in rows if start <= d <= end]


# What a malformed chart answer raises while read (a timestamp of 1e20, a close "abc", ...).
UNREADABLE = (ValueError, TypeError, OverflowError, AttributeError, KeyError, IndexError, OSError)


def _parse_chart(symbol: str, result: dict, end: date) -> Bars:
    """Rows with a missing price are dropped; dates are the exchange's local trading days. A
    malformed answer fails this symbol with one line, never the run."""
    try:
        return _chart_rows(symbol, result, end)
    except MarketDataError:
        raise
    except UNREADABLE as exc:
        raise MarketDataError(
            f"{symbol}: Yahoo chart answer unreadable ({type(exc).__name__})"
        ) from None


def _chart_rows(symbol: str, result: dict, end: date) -> Bars:
    from zoneinfo import ZoneInfo

    try:
        stamps = result.get("timestamp") or []
        quote = result["indicators"]["quote"][0]
        zone = ZoneInfo(result.get("meta", {}).get("exchangeTimezoneName") or "America/New_York")
    except (KeyError, IndexError, TypeError):
        raise MarketDataError(f"{symbol}: Yahoo chart answer has no indicators.quote") from None
    rows: dict[date, tuple] = {}
    for i, stamp in enumerate(stamps):
        try:
            o, h, lo, c = (quote[k][i] for k in ("open", "high", "low", "close"))
            v = (quote.get("volume") or [None] * len(stamps))[i] or 0
        except (IndexError, KeyError):
            break
        if None in (o, h, lo, c):
            continue
        day = datetime.fromtimestamp(stamp, zone).date()
        if day <= end:
            rows[day] = (day, float(o), float(h), float(lo), float(c), float(v))
    return bars_from_rows(symbol, [rows[d] for d in sorted(rows)])
