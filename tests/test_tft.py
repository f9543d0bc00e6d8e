"""The TFT: tiny training into the store, loading without pickles, and the fast predictor's
parity with ``TemporalFusionTransformer.predict()`` on real windows of the bundled prices."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import numpy as np
import pytest
import torch

from models import store
from models.tft.cli import main
from models.tft.dataset import QUANTILES, prediction_frame, quantile_key
from models.tft.evaluate import windows
from models.tft.features import sessions_ending
from models.tft.predictor import TFTPredictor, direction_confidence
from models.tft.train import TrainConfig, fit, persist

pytestmark = pytest.mark.slow

TRAINED = ("AAPL", "JPM", "XOM")


@pytest.fixture(scope="module")
def fitted():
    config = TrainConfig(
        symbols=TRAINED,
        test_end=dt.date(2022, 12, 31),
        hidden_size=8,
        attention_head_size=2,
        max_epochs=2,
        limit_train_batches=6,
        batch_size=64,
        progress=False,
    )
    return fit(config)


@pytest.fixture(scope="module")
def model_dir(fitted):
    return persist(fitted)


@pytest.fixture(scope="module")
def predictor(model_dir):
    return TFTPredictor.load(model_dir, device="cpu")


@pytest.fixture(scope="module")
def real_windows(fitted, predictor):
    """120 real requests of varied length (25..65 rows, so some are trimmed to the model's
    ``max_rows``), from trained and unseen symbols."""
    from models.tft.features import load_prices
    from premarket.data import PRICES_CSV

    prices = load_prices(PRICES_CSV)
    prices = prices[prices["symbol"].isin(["AAPL", "MSFT", "TSLA", "XOM"])]
    pairs = list(windows(prices, dt.date(2019, 1, 1), dt.date(2019, 12, 31), 65, 65))
    picked = pairs[:: len(pairs) // 120][:120]
    return [
        (symbol, rows[i % 41 :], dates[i % 41 :])
        for i, ((symbol, rows, dates), _) in enumerate(picked)
    ]


def test_store_entry_has_plain_files_and_metadata(model_dir):
    assert sorted(p.name for p in model_dir.iterdir() if p.name != "model.yaml") == [
        "config.json",
        "weights.safetensors",
    ]
    metadata = store.metadata_of("tft")
    assert metadata["data_start"] == "2015-01-02"
    assert metadata["train_end"] == "2021-12-31"
    assert metadata["symbols"] == sorted(TRAINED)
    for period in ("validation", "test"):
        metrics = metadata[period]
        assert metrics["windows"] > 100
        assert 0.0 <= metrics["direction_hit_rate"] <= 1.0
        assert 0.0 <= metrics["coverage_p10_p90"] <= 1.0
        assert metrics["mae_price"] > 0
    config = json.loads((model_dir / "config.json").read_text())
    assert config["version"] == metadata["version"]


def test_loaded_predictor_matches_the_trained_network(fitted, predictor, real_windows):
    loaded = predictor.network.state_dict()
    for name, tensor in fitted.model.state_dict().items():
        assert torch.equal(loaded[name], tensor), name
    live = TFTPredictor(fitted.model, predictor.config, "cpu")
    np.testing.assert_array_equal(
        live.quantile_returns(real_windows[:20]), predictor.quantile_returns(real_windows[:20])
    )


def test_quantiles_match_library_predict_on_real_windows(fitted, predictor, real_windows):
    from pytorch_forecasting import TimeSeriesDataSet

    assert len(real_windows) >= 100
    lengths = {min(len(rows), predictor.max_rows) for _, rows, _ in real_windows}
    assert len(lengths) > 15  # the encoder padding of a mixed batch is exercised
    ours = predictor.quantile_returns(real_windows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = TimeSeriesDataSet.from_dataset(
            fitted.dataset,
            prediction_frame(real_windows, max_rows=predictor.max_rows),
            predict=True,
        )
        reference = fitted.model.predict(
            dataset,
            mode="quantiles",
            batch_size=32,
            trainer_kwargs={"logger": False, "enable_progress_bar": False},
        )
    assert ours.shape == (len(real_windows), predictor.horizon, len(QUANTILES))
    np.testing.assert_allclose(ours, reference.numpy(), rtol=0, atol=1e-5)


def test_unseen_symbol_gets_a_forecast(predictor, real_windows):
    symbol, rows, dates = next(w for w in real_windows if w[0] == "TSLA")
    assert "TSLA" not in TRAINED
    unseen, known = predictor.forecast([("NEWCO", rows, dates), ("AAPL", rows, dates)])
    # the symbol is a name, not an input: same rows, same forecast (to float rounding)
    assert unseen.quantiles == pytest.approx(known.quantiles, rel=1e-6)
    assert unseen.confidence == pytest.approx(known.confidence, rel=1e-6)


def test_forecast_is_in_prices_with_a_direction_confidence(predictor, real_windows):
    symbol, rows, dates = real_windows[0]
    (forecast,) = predictor.forecast([(symbol, rows, dates)])
    # Quantiles may cross in a small model: the forecast uses them sorted, per day.
    returns = np.sort(predictor.quantile_returns([(symbol, rows, dates)])[0], axis=1)
    last = rows[-1][3]
    assert forecast.current_price == last
    assert list(forecast.quantiles) == [quantile_key(q) for q in QUANTILES]
    assert forecast.quantiles["p50"] == pytest.approx(last * np.exp(returns[0, 3]))
    assert forecast.predicted_price == pytest.approx(forecast.quantiles["p50"])
    assert len(forecast.forecast_path) == predictor.horizon
    assert forecast.forecast_path[-1] == pytest.approx(last * np.exp(returns[:, 3].sum()))
    values = list(forecast.quantiles.values())
    assert values == sorted(values)
    assert 0.5 <= forecast.confidence <= 0.98
    assert forecast.confidence == pytest.approx(
        direction_confidence(returns[0, 3], returns[0], QUANTILES)
    )
    assert forecast.model_version == predictor.version
    assert forecast.variable_importance is None


def test_median_band_and_confidence_agree_on_every_window(predictor, real_windows):
    for forecast in predictor.forecast(real_windows):
        assert forecast.predicted_price == pytest.approx(forecast.quantiles["p50"])
        assert forecast.quantiles["p10"] <= forecast.predicted_price <= forecast.quantiles["p90"]
        assert 0.5 <= forecast.confidence <= 0.98


def test_variable_importance_on_request(predictor, real_windows):
    forecasts = predictor.forecast(real_windows[:3], include_importance=True)
    for forecast in forecasts:
        importance = forecast.variable_importance
        assert set(importance) == {"encoder", "decoder", "static"}
        assert "log_return" in importance["encoder"]
        assert "day_of_week" in importance["decoder"]
        for weights in importance.values():
            assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)


def test_thirty_rows_work_and_older_rows_do_not_matter(predictor, real_windows):
    assert predictor.min_rows <= 30
    symbol, rows, dates = max(real_windows, key=lambda w: len(w[1]))
    (short,) = predictor.forecast([(symbol, rows[-30:], dates[-30:])])
    assert short.current_price == rows[-1][3]
    padded_rows = np.vstack([np.tile(rows[0], (200, 1)), rows])
    padded_dates = sessions_ending(len(padded_rows), dates[-1])
    (long,) = predictor.forecast([(symbol, padded_rows, padded_dates)])
    keep = predictor.max_rows
    (exact,) = predictor.forecast([(symbol, rows[-keep:], padded_dates[-keep:])])
    assert long.quantiles == pytest.approx(exact.quantiles, rel=1e-6)


def test_missing_dates_mean_the_latest_nyse_sessions(predictor, real_windows):
    symbol, rows, _ = real_windows[5]
    implied = sessions_ending(len(rows))
    assert predictor.forecast([(symbol, rows, None)]) == predictor.forecast(
        [(symbol, rows, implied)]
    )


def test_short_input_names_the_minimum(predictor, real_windows):
    symbol, rows, dates = real_windows[0]
    n = predictor.min_rows - 1
    with pytest.raises(ValueError, match=f"XOM: {n} rows given, .*at least {predictor.min_rows}"):
        predictor.forecast([("XOM", rows[-n:], dates[-n:])])


def test_bad_rows_are_refused(predictor, real_windows):
    _, rows, dates = real_windows[0]
    broken = np.array(rows, dtype=float)
    broken[3, 3] = -1.0
    with pytest.raises(ValueError, match="BAD: prices must be positive"):
        predictor.forecast([("BAD", broken, dates)])
    with pytest.raises(ValueError, match="dates for"):
        predictor.forecast([("BAD", rows, dates[1:])])


def test_cpu_path(predictor, model_dir, real_windows):
    assert predictor.device.type == "cpu"
    assert next(predictor.network.parameters()).device.type == "cpu"
    default = TFTPredictor.load(model_dir)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default.device.type == expected
    np.testing.assert_allclose(
        default.quantile_returns(real_windows[:10]),
        predictor.quantile_returns(real_windows[:10]),
        atol=1e-5,
    )


def test_empty_batch(predictor):
    assert predictor.forecast([]) == []


def test_cli_if_missing_reuses_the_stored_model(model_dir, capsys):
    assert main(["--if-missing"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_cli_refuses_bad_arguments(capsys):
    assert main(["--max-epochs", "0"]) == 2
    assert "--max-epochs" in capsys.readouterr().err


def test_two_trainings_of_one_commit_give_identical_weights(tmp_path) -> None:
    """The budget is epochs and batches, never seconds: a busy machine trains the same model,
    and writes the same bytes (checking a build is comparing two files' hashes)."""
    import torch

    from models.tft.persist import WEIGHTS_FILE, save_model

    config = TrainConfig(
        symbols=("AAPL", "MSFT"), max_epochs=2, limit_train_batches=3, hidden_size=8,
        attention_head_size=1, hidden_continuous_size=4, progress=False,
    )  # fmt: skip
    first, second = fit(config), fit(config)
    assert first.epochs == second.epochs == 2
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    files = [
        save_model(f, tmp_path / name) / WEIGHTS_FILE for f, name in [(first, "a"), (second, "b")]
    ]
    assert files[0].read_bytes() == files[1].read_bytes()
