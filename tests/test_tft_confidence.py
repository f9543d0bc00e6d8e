"""The TFT's confidence: the predicted probability that the forecast direction is right."""

from __future__ import annotations

import numpy as np
import pytest

from models.tft.dataset import QUANTILES, quantile_key
from models.tft.predictor import direction_confidence


def test_a_band_centred_on_zero_is_a_coin_flip():
    levels = np.array([-3, -2, -1, 0, 1, 2, 3]) * 0.01
    assert direction_confidence(0.0, levels, QUANTILES) == 0.5


def test_up_median_reads_the_mass_above_zero():
    levels = np.array([-0.03, -0.01, 0.0, 0.005, 0.01, 0.02, 0.04])  # zero at p25
    assert direction_confidence(0.005, levels, QUANTILES) == pytest.approx(0.75)


def test_down_median_reads_the_mass_below_zero():
    levels = np.array([-0.04, -0.02, -0.01, -0.005, 0.0, 0.01, 0.03])  # zero at p75
    assert direction_confidence(-0.005, levels, QUANTILES) == pytest.approx(0.75)


def test_zero_between_levels_is_interpolated():
    levels = np.array([-0.03, -0.02, -0.01, 0.01, 0.02, 0.03, 0.04])  # zero halfway p25..p50
    assert direction_confidence(0.01, levels, QUANTILES) == pytest.approx(1 - 0.375)


def test_confidence_is_capped_by_the_outer_quantiles():
    levels = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07])
    assert direction_confidence(0.04, levels, QUANTILES) == pytest.approx(0.98)


def test_quantile_keys():
    assert [quantile_key(q) for q in QUANTILES] == ["p02", "p10", "p25", "p50", "p75", "p90", "p98"]
