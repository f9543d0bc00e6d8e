"""The backtest's statistics against textbook values and scipy."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.backtest import metrics
from orchestrator.tracking import metrics as tracking_metrics


def test_wilson_interval_textbook_value() -> None:
    lo, hi = tracking_metrics.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert tracking_metrics.wilson_interval(0, 0) is None
    lo, hi = tracking_metrics.wilson_interval(0, 20)
    assert lo == 0.0 and 0.1 < hi < 0.2


@pytest.mark.parametrize(
    ("hits", "n", "p"),
    [(7, 10, 0.5), (60, 100, 0.5), (2600, 5000, 0.52), (13, 40, 0.7), (0, 5, 0.3), (5, 5, 0.3)],
)
def test_binomial_p_value_matches_scipy(hits: int, n: int, p: float) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    expected = scipy_stats.binomtest(hits, n, p).pvalue
    assert metrics.binomial_p_value(hits, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcc_and_its_degenerate_case() -> None:
    up = np.array([True, True, False, False])
    assert metrics.mcc(up, up) == 1.0
    assert metrics.mcc(up, ~up) == -1.0
    assert metrics.mcc(np.array([True, True, False, True]), up) == pytest.approx(1 / np.sqrt(3))
    assert metrics.mcc(np.ones(4, bool), up) == 0.0  # never calls DOWN: undefined, scored 0


def test_mase_averages_symbols_not_prices() -> None:
    current = np.array([100.0, 100.0, 10.0, 10.0])
    actual = np.array([101.0, 99.0, 11.0, 9.0])
    point = np.array([100.5, 99.5, 10.0, 10.0])  # half the naive error on the big one
    groups = np.array(["BIG", "BIG", "SMALL", "SMALL"])
    assert metrics.mase(point, actual, current, groups) == pytest.approx((0.5 + 1.0) / 2)
    assert metrics.mase(point, actual, current) == pytest.approx(1.5 / 2.0)


def test_performance_of_a_known_path() -> None:
    returns = np.array([0.10, -0.50, 0.20])
    stats = tracking_metrics.performance(returns)
    assert stats["total_return"] == pytest.approx(1.1 * 0.5 * 1.2 - 1)
    assert stats["max_drawdown"] == pytest.approx(0.5)  # from 1.1 down to 0.55
    assert stats["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * np.sqrt(252))
    assert tracking_metrics.performance(np.zeros(5))["sharpe"] is None
