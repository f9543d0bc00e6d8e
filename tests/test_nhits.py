"""N-HITS backup: tiny training, export/load, parity with neuralforecast, numpy-only loading."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import store
from models.nhits.cli import main
from models.nhits.export import export_nhits, read_config
from models.nhits.inference import NHitsForecaster, window_statistics
from models.nhits.train import TrainConfig, fit, save_to_store, train
from models.nhits.train_data import load_series, sliding_windows
from premarket.protocol import PriceForecast, ProtocolError

TINY = TrainConfig(
    max_steps=8, hidden=32, windows_batch_size=128, val_check_steps=4, progress=False
)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def series():
    return load_series()


@pytest.fixture(scope="module")
def fit_tiny(series):
    """Fit each scaler's tiny model once per module (fits take seconds, not milliseconds)."""
    fitted = {}

    def get(scaler: str = "robust"):
        if scaler not in fitted:
            fitted[scaler] = fit(replace(TINY, scaler_type=scaler), series)
        return fitted[scaler]

    return get


@pytest.fixture(scope="module")
def exported(fit_tiny, tmp_path_factory) -> Path:
    return export_nhits(fit_tiny(), tmp_path_factory.mktemp("nhits"))


def real_windows(series, per_symbol: int = 12) -> tuple[list[str], np.ndarray]:
    """Windows spread over the whole 2015-2023 history of every bundled symbol."""
    names, windows = [], []
    for s in series:
        inputs, _ = sliding_windows(s.closes, 30, 5, first_target=0)
        for i in np.linspace(0, len(inputs) - 1, per_symbol).astype(int):
            names.append(f"{s.symbol}-{i}")
            windows.append(inputs[i])
    return names, np.stack(windows)


@pytest.mark.slow
@pytest.mark.parametrize("scaler", ["robust", "standard"])
def test_numpy_forward_matches_neuralforecast_predict(scaler, fit_tiny, series, tmp_path):
    fitted = fit_tiny(scaler)
    names, windows = real_windows(series)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(names, windows.shape[1]),
            "ds": np.tile(np.arange(windows.shape[1]), len(names)),
            "y": windows.ravel(),
        }
    )
    library = fitted.predict(df=frame).sort_values(["unique_id", "ds"])
    theirs = library.groupby("unique_id", sort=False)["NHITS"].apply(np.asarray).reindex(names)
    theirs = np.stack(theirs.to_list())
    ours = NHitsForecaster.load(export_nhits(fitted, tmp_path)).predict(windows)

    assert len(windows) >= 100 and len({n.split("-")[0] for n in names}) == 10
    assert ours.shape == theirs.shape == (len(windows), 5)
    assert np.max(np.abs(ours - theirs) / np.abs(theirs)) <= 1e-4


@pytest.mark.parametrize("scaler", ["robust", "standard"])
def test_window_statistics_match_neuralforecast_scalers(scaler):
    import torch
    from neuralforecast.common._scalers import TemporalNorm

    rng = np.random.default_rng(0)
    windows = np.vstack(
        [
            100 + rng.standard_normal((4, 30)).cumsum(axis=1),
            np.full((1, 30), 42.0),  # flat: no spread at all
            np.r_[np.full(20, 10.0), np.linspace(11, 20, 10)][None],  # MAD 0, std > 0
        ]
    )
    norm = TemporalNorm(scaler_type=scaler, dim=1)
    x = torch.tensor(windows[:, :, None], dtype=torch.float64)
    norm.transform(x, torch.ones_like(x))
    shift, scale = window_statistics(windows, scaler, norm.eps)

    np.testing.assert_allclose(shift, norm.x_shift[:, :, 0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(scale, norm.x_scale[:, :, 0].numpy(), rtol=1e-12)


@pytest.mark.slow
def test_export_round_trip(fit_tiny, exported):
    assert sorted(p.name for p in exported.iterdir()) == ["config.json", "weights.npz"]
    with np.load(exported / "weights.npz", allow_pickle=False) as archive:
        first = archive["block0.layer0.weight"]
    np.testing.assert_array_equal(first, fit_tiny().models[0].blocks[0].layers[0].weight.detach())
    config = read_config(exported)
    assert (config["input_size"], config["horizon"]) == (30, 5)
    assert [b["pool_size"] for b in config["blocks"]] == [2, 2, 1]
    assert [b["n_knots"] for b in config["blocks"]] == [1, 2, 5]
    model = NHitsForecaster.load(exported)
    assert (model.input_size, model.horizon, model.min_rows) == (30, 5, 30)
    assert model.version == config["version"] and model.version.startswith("nhits-30x5-")


@pytest.mark.slow
def test_same_input_same_output_batch_or_single(exported, series):
    model = NHitsForecaster.load(exported)
    _, windows = real_windows(series, per_symbol=3)
    batch = model.predict(windows)
    np.testing.assert_array_equal(batch, model.predict(windows))
    singles = np.vstack([model.predict(w[None]) for w in windows])
    np.testing.assert_allclose(singles, batch, rtol=1e-6)
    longer = np.hstack([np.full((len(windows), 7), 1.0), windows])  # only the last 30 count
    np.testing.assert_array_equal(model.predict(longer), batch)


@pytest.mark.slow
def test_short_or_bad_input_is_refused(exported, series):
    model = NHitsForecaster.load(exported)
    closes = series[0].closes
    with pytest.raises(ProtocolError, match="at least 30") as short:
        model.predict(closes[None, :29])
    assert short.value.field == "sequence_data" and short.value.required_minimum == 30
    with pytest.raises(ValueError, match="positive finite"):
        model.predict(np.r_[closes[:29], np.nan][None])
    with pytest.raises(ValueError, match="2-D"):
        model.predict(closes[:30])


@pytest.mark.slow
def test_loads_and_predicts_without_torch_neuralforecast_or_bentoml(exported, series):
    windows = series[3].closes[-40:][None]
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        BLOCKED = ("torch", "neuralforecast", "bentoml", "pandas", "lightning", "pytorch_lightning")

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked in this test")

        sys.meta_path.insert(0, Blocker())
        import numpy as np
        from models.nhits.inference import NHitsForecaster

        model = NHitsForecaster.load(Path({str(exported)!r}))
        path = model.predict(np.array({windows.tolist()!r}))
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print(json.dumps({{"path": path.tolist(), "loaded": loaded}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["loaded"] == []
    np.testing.assert_array_equal(answer["path"], NHitsForecaster.load(exported).predict(windows))


@pytest.mark.slow
def test_train_store_and_forecast(tmp_path, series, fit_tiny, capsys):
    out = train(replace(TINY, out_dir=tmp_path / "export"))
    config = read_config(out)
    training = config["training"]  # the TFT's split: the demo day and 2022-2023 never trained on
    assert (training["train_end"], training["valid_end"]) == ("2021-12-31", "2022-09-20")
    assert training["train_range"] == ["2015-01-02", "2021-12-31"]
    assert training["validation_range"] == ["2022-01-03", "2022-09-20"]
    assert training["test_range"] == ["2022-09-21", "2023-12-29"]
    assert training["best_step"] in (4, 8) and training["stopped_step"] == 8
    validation, test = config["validation"], config["test"]
    dates = series[0].dates
    n_valid = int(((dates > "2021-12-31") & (dates <= "2022-09-20")).sum())
    assert validation["n_windows"] == 10 * (n_valid - 5 + 1)
    assert test["n_windows"] == 10 * (int((dates > "2022-09-20").sum()) - 5 + 1)
    for period in (validation, test):
        assert 0.0 <= period["direction_hit_rate"] <= 1.0
        assert period["mae"] > 0 and period["naive_mae_next_day"] > 0
    assert validation["naive_mae_next_day"] != test["naive_mae_next_day"]
    n_seen = int((dates <= "2022-09-20").sum())  # fit() is never given a test session
    assert list(fit_tiny().last_dates) == [n_seen - 1] * 10
    again = export_nhits(fit_tiny(), tmp_path / "again")  # same config and seed: same weights
    assert config["version"] == read_config(again)["version"]

    tag = save_to_store(out)
    assert tag.startswith("nhits:")
    metadata = store.metadata_of(tag)
    assert (metadata["validation"], metadata["test"]) == (validation, test)
    assert metadata["training"]["train_range"][1] == "2021-12-31"  # what the backtest reads
    assert metadata["training"]["validation_range"][1] == "2022-09-20"
    copy = store.export(tag, tmp_path / "copy")
    model = NHitsForecaster.load(copy)
    windows = [list(s.closes[-35:]) for s in series[:3]] + [list(series[4].closes[-30:])]
    forecasts = model.forecast(windows)

    assert all(isinstance(f, PriceForecast) for f in forecasts)
    np.testing.assert_allclose(
        [f.forecast_path for f in forecasts], model.predict(np.array([w[-30:] for w in windows]))
    )
    rates = config["calibration"]["confidence"]["hit_rates"]
    for f, w in zip(forecasts, windows, strict=True):
        assert f.current_price == w[-1] and len(f.forecast_path) == 5
        assert f.confidence in rates and 0.0 <= f.confidence <= 1.0
        assert f.quantiles["p10"] <= f.quantiles["p50"] <= f.quantiles["p90"]
        assert f.model_version == config["version"]
    with pytest.raises(ProtocolError, match="window 1 has 12 daily rows.*at least 30"):
        model.forecast([windows[0], windows[0][:12]])

    stored = store.path_of("nhits")
    assert main(["--if-missing"]) == 0  # the Makefile's call: reuse, never retrain
    assert store.path_of("nhits") == stored
    assert "already in the model store" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--max-steps", "0"])
    assert exit_.value.code == 2
    assert "--max-steps: must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--valid-end", "2022-13-01"])
    assert "--valid-end: must be a date YYYY-MM-DD, got '2022-13-01'" in capsys.readouterr().err
    assert main(["--train-end", "2022-10-01"]) == 2  # refused before any training
    assert "train_end: 2022-10-01 must be before valid_end" in capsys.readouterr().err
    assert main(["--valid-end", "2023-12-28"]) == 2
    assert "valid_end: 2023-12-28 leaves no test period" in capsys.readouterr().err
