"""Feature engineering of the TFT: local look-back (no train/serve drift) and the calendar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.tft.features import (
    PRICE_FEATURES,
    WARMUP_ROWS,
    calendar_features,
    history_frame,
    load_prices,
    next_sessions,
    price_features,
    sessions_ending,
)
from premarket.data import PRICES_CSV


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_prices(PRICES_CSV)


def _rows(prices: pd.DataFrame, symbol: str) -> np.ndarray:
    group = prices[prices["symbol"] == symbol].sort_values("date")
    return group[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)


def test_features_of_a_short_window_equal_those_of_the_full_history(prices):
    rows = _rows(prices, "TSLA")
    full = price_features(rows)
    for end in (40, 700, len(rows)):
        window = rows[end - 30 : end]
        np.testing.assert_allclose(price_features(window)[WARMUP_ROWS:], full[end - 25 : end])


def test_warmup_rows_are_nan_and_the_rest_finite(prices):
    features = price_features(_rows(prices, "AAPL")[:100])
    assert np.isnan(features[:WARMUP_ROWS]).all()
    assert np.isfinite(features[WARMUP_ROWS:]).all()
    assert features.shape == (100, len(PRICE_FEATURES))


def test_range_variance_is_the_log_garman_klass_variance_by_hand():
    rows = np.array([[10, 11, 9, 10, 100]] * 6 + [[10, 12, 10, 11, 300]], dtype=float)
    features = price_features(rows)
    day, week = PRICE_FEATURES.index("range_variance"), PRICE_FEATURES.index("range_variance_week")
    gk = [
        0.5 * np.log(h / lo) ** 2 - (2 * np.log(2) - 1) * np.log(c / o) ** 2
        for o, h, lo, c, _ in rows
    ]
    assert features[-1, day] == pytest.approx(np.log(gk[-1]))
    assert features[-1, week] == pytest.approx(np.log(np.mean(gk[-5:])))


def test_log_return_is_the_close_to_close_log_ratio():
    rows = np.array([[10, 11, 9, 10, 100]] * 6 + [[10, 12, 10, 11, 300]], dtype=float)
    features = price_features(rows)
    assert features[-1, 0] == pytest.approx(np.log(11 / 10))
    assert features[-1, 1] == pytest.approx(np.log(12 / 10))  # intraday range
    assert features[-1, 4] == pytest.approx(np.log1p(300) - np.log1p(100))  # volume change


def test_price_features_reject_a_wrong_shape():
    with pytest.raises(ValueError, match="n x 5"):
        price_features(np.ones((10, 4)))


def test_calendar_features_match_pandas():
    days = [dt.date(2023, 12, 21), dt.date(2023, 12, 22), dt.date(2023, 12, 26)]
    features = calendar_features(days, previous=dt.date(2023, 12, 20))
    index = pd.DatetimeIndex(days)
    np.testing.assert_array_equal(features[:, 0], index.dayofweek)
    np.testing.assert_array_equal(features[:, 1], index.month)
    np.testing.assert_array_equal(features[:, 2], [1, 1, 4])


def test_next_sessions_skip_nyse_holidays():
    assert next_sessions(dt.date(2023, 12, 22), 2) == (dt.date(2023, 12, 26), dt.date(2023, 12, 27))
    assert next_sessions(dt.date(2024, 7, 3), 1) == (dt.date(2024, 7, 5),)


def test_sessions_ending_are_consecutive_nyse_sessions():
    days = sessions_ending(3, dt.date(2024, 1, 2))
    assert days == (dt.date(2023, 12, 28), dt.date(2023, 12, 29), dt.date(2024, 1, 2))


def test_dates_outside_the_calendar_fall_back_to_weekdays():
    assert next_sessions(dt.date(1990, 12, 21), 2) == (dt.date(1990, 12, 24), dt.date(1990, 12, 25))


def test_history_frame_has_one_session_index_per_date(prices):
    frame = history_frame(prices[prices["symbol"].isin(["AAPL", "XOM"])])
    assert frame.groupby("symbol")["time_idx"].diff().dropna().eq(1).all()
    assert np.isfinite(frame[list(PRICE_FEATURES)].to_numpy()).all()
    aapl = frame[frame["symbol"] == "AAPL"]
    assert aapl["date"].iloc[0] == sorted(prices["date"].unique())[WARMUP_ROWS]
