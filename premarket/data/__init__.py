"""Paths of the real data bundled with the package (provenance and licences in DATA.md)."""

from importlib import resources
from pathlib import Path

_ROOT = Path(str(resources.files(__name__)))

PRICES_CSV = _ROOT / "prices" / "us_largecap_daily_2015_2023.csv"
"""Daily OHLCV of 10 US large caps, 2015-01-02 to 2023-12-29 (Yahoo Finance via yfinance)."""

HEADLINES_CSV = _ROOT / "news" / "financial_headlines_cnbc_reuters_guardian_2017_2020.csv"
"""53,330 dated business headlines (CNBC, Reuters, Guardian), 2017-12-17 to 2020-07-18."""

TICKER_HEADLINES_CSV = _ROOT / "news" / "corizzo_headlines_AAPL_MSFT_TSLA_2021_2022_by_iter.csv"
"""Per-ticker headlines for AAPL, MSFT, TSLA, 2021-01 to 2022-09 (dated for MSFT and TSLA)."""

SENTIMENT_TRAIN_CSV = _ROOT / "sentiment" / "sent_train.csv"
SENTIMENT_VALID_CSV = _ROOT / "sentiment" / "sent_valid.csv"
"""twitter-financial-news-sentiment: label 0 = bearish, 1 = bullish, 2 = neutral."""

SYMBOLS = ("AAPL", "AMZN", "GOOGL", "MSFT", "NVDA", "TSLA", "META", "JPM", "UNH", "XOM")
"""The symbols of the bundled price history."""

DEMO_AS_OF = "2022-09-20"
"""The last bundled trading day that also has bundled news (MSFT and TSLA headlines)."""
