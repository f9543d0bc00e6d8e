"""The pytorch-forecasting dataset and network of the TFT, and their plain-JSON description.

Training builds a ``TimeSeriesDataSet`` here; what the predictor needs from it (variable order,
scaler means and scales, lengths) is written to JSON by :func:`dataset_spec`, and the network is
rebuilt from JSON hyper-parameters by :func:`build_network`, so no pickle is ever loaded.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from models.tft.features import CALENDAR_FEATURES, PRICE_FEATURES, TARGET

QUANTILES = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)
"""Quantile levels of the QuantileLoss; reported as p02 ... p98."""
MIN_ENCODER_LENGTH = 20
MAX_ENCODER_LENGTH = 40
HORIZON = 5
"""Trading days forecast; the first is the next close."""
RANDOMIZE_LENGTH = (1.0, 1.0)
"""Beta parameters for encoder-length sampling in training: uniform between the minimum and the
maximum, so the short (30-row) requests of the original callers are trained for as much as the
long ones."""

_UNSERIALIZABLE = {"loss", "output_transformer", "dataset_parameters", "logging_metrics"}


def quantile_key(level: float) -> str:
    """0.02 -> 'p02', 0.5 -> 'p50'."""
    return f"p{round(level * 100):02d}"


def training_dataset(frame: pd.DataFrame, *, train_end_idx: int):
    """The training ``TimeSeriesDataSet`` over rows with ``time_idx <= train_end_idx``.

    No symbol categorical (the symbol only groups rows into series; pytorch-forecasting extends
    its group encoder with new names): the model learns one mapping from scale-free features, so
    a symbol it never saw gets a forecast on the same footing. The target is normalised per window by its
    encoder standard deviation (not centred), which also adapts the bands to each window's
    volatility.
    """
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import EncoderNormalizer

    train = frame[frame["time_idx"] <= train_end_idx]
    return TimeSeriesDataSet(
        train,
        time_idx="time_idx",
        target=TARGET,
        group_ids=["symbol"],
        min_encoder_length=MIN_ENCODER_LENGTH,
        max_encoder_length=MAX_ENCODER_LENGTH,
        min_prediction_length=HORIZON,
        max_prediction_length=HORIZON,
        time_varying_known_reals=list(CALENDAR_FEATURES),
        time_varying_unknown_reals=list(PRICE_FEATURES),
        target_normalizer=EncoderNormalizer(method="standard", center=False),
        scalers=_window_scale_scalers(train),
        add_relative_time_idx=True,
        add_target_scales=True,
        add_encoder_length=True,
        randomize_length=RANDOMIZE_LENGTH,
    )


def _window_scale_scalers(train: pd.DataFrame) -> dict[str, Any]:
    """Scalers for the per-window target statistics the model sees as static inputs.

    Left to itself pytorch-forecasting would fit them on a per-symbol approximation (for an
    uncentred normaliser: the mean return, near zero and sometimes negative), which would turn
    a window's return volatility into an input tens of standard deviations wide. Fitting them
    on the rolling encoder-length volatility the windows really have keeps the input near unit
    scale. The centre is always zero (returns are not centred).
    """
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    rolling = (
        train.groupby("symbol")[TARGET]
        .rolling(MAX_ENCODER_LENGTH, min_periods=MIN_ENCODER_LENGTH)
        .std()
        .dropna()
        .to_numpy()
    )
    return {
        f"{TARGET}_scale": StandardScaler().fit(rolling.reshape(-1, 1)),
        f"{TARGET}_center": StandardScaler().fit(np.zeros((2, 1))),
    }


def dataset_spec(dataset) -> dict[str, Any]:
    """What the predictor needs from the training dataset, as plain JSON."""
    scalers = {}
    for name in dataset.reals:
        scaler = dataset.get_transformer(name)
        if name != TARGET:
            scalers[name] = [float(scaler.mean_[0]), float(scaler.scale_[0])]
    normalizer = dataset.target_normalizer
    return {
        "target": TARGET,
        "reals": list(dataset.reals),
        "scalers": scalers,
        "min_encoder_length": dataset.min_encoder_length,
        "max_encoder_length": dataset.max_encoder_length,
        "horizon": dataset.max_prediction_length,
        "target_normalizer": {"method": normalizer.method, "center": normalizer.center},
    }


def network_hparams(model) -> dict[str, Any]:
    """The network's constructor arguments that are plain data (the rest is rebuilt)."""
    return {k: v for k, v in dict(model.hparams).items() if k not in _UNSERIALIZABLE}


def build_network(hparams: dict[str, Any], quantiles: list[float], normalizer: dict[str, Any]):
    """A TemporalFusionTransformer with the given hyper-parameters and untrained weights."""
    from pytorch_forecasting import TemporalFusionTransformer
    from pytorch_forecasting.data import EncoderNormalizer
    from pytorch_forecasting.metrics import QuantileLoss

    with warnings.catch_warnings():  # Lightning notes that the loss module is a hyper-parameter
        warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`")
        return TemporalFusionTransformer(
            **hparams,
            loss=QuantileLoss(quantiles=list(quantiles)),
            output_transformer=EncoderNormalizer(**normalizer),
        )


def prediction_frame(requests, horizon: int = HORIZON, max_rows: int | None = None) -> pd.DataFrame:
    """The data frame ``TemporalFusionTransformer.predict()`` needs for the same requests the
    predictor takes: one series per request (named by its zero-padded position, so the dataset keeps request order), the encoder rows after
    the warm-up, then ``horizon`` future sessions with calendar features and zero placeholders.

    This is the library's own path, used as the reference in the parity test and benchmark.
    """
    import numpy as np

    from models.tft.features import (
        WARMUP_ROWS,
        calendar_features,
        next_sessions,
        price_features,
    )

    parts = []
    for i, (_, rows, dates) in enumerate(requests):
        rows = np.asarray(rows, dtype=np.float64)[-max_rows if max_rows else None :]
        dates = list(dates)[-len(rows) :]
        future = next_sessions(dates[-1], horizon)
        values = np.zeros((len(rows) - WARMUP_ROWS + horizon, len(PRICE_FEATURES)))
        values[: len(rows) - WARMUP_ROWS] = price_features(rows)[WARMUP_ROWS:]
        calendar = np.vstack(
            [calendar_features(dates)[WARMUP_ROWS:], calendar_features(future, dates[-1])]
        )
        part = pd.DataFrame(values, columns=list(PRICE_FEATURES))
        part[list(CALENDAR_FEATURES)] = calendar
        part.insert(0, "symbol", f"w{i:07d}")  # sorts in request order
        part.insert(1, "time_idx", np.arange(len(part)))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
