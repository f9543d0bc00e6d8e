"""The N-HITS backup's forward pass in numpy, so the backup runs where torch cannot.

It reproduces neuralforecast's ``NHITS`` in eval mode (MAE loss, no exogenous inputs) from the
directory that :mod:`models.nhits.export` writes:

1. scale each window by its own statistics (neuralforecast's ``TemporalNorm``: robust =
   median / median absolute deviation, standard = mean / std; torch's median of an even count
   is the lower middle value, and so is ours);
2. start the forecast at the last scaled value (neuralforecast's "Naive1 level") and walk the
   blocks over the reversed window: max-pool (ceil mode), MLP, split theta into backcast and
   knots, interpolate the knots to the horizon, subtract the backcast, add the forecast;
3. undo the scaling.

Imports numpy and the pydantic-only protocol module, nothing else outside the standard library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from premarket.protocol import PriceForecast, ProtocolError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
FORMAT = "premarket-nhits-numpy/1"
MAD_FROM_STD = 0.6744897501960817
"""neuralforecast's stand-in for a zero MAD: the MAD of a normal law with the window's std."""


@dataclass(frozen=True)
class _Block:
    pool_size: int
    layers: list[tuple[np.ndarray, np.ndarray] | None]
    """Linear layers as (weight.T, bias); ``None`` marks a ReLU."""
    interpolation: np.ndarray
    """[n_knots, horizon]: knots @ interpolation gives the block's forecast."""


def interpolation_matrix(n_knots: int, horizon: int, mode: str) -> np.ndarray:
    """The linear map of ``torch.nn.functional.interpolate(size=horizon, mode=mode)`` (1-D,
    ``align_corners=False``) from ``n_knots`` values to ``horizon`` values."""
    matrix = np.zeros((n_knots, horizon))
    scale = n_knots / horizon
    for i in range(horizon):
        if mode == "nearest":
            matrix[min(math.floor(i * scale), n_knots - 1), i] = 1.0
        elif mode == "linear":
            source = max((i + 0.5) * scale - 0.5, 0.0)
            left = min(math.floor(source), n_knots - 1)
            right = min(left + 1, n_knots - 1)
            weight = source - left
            matrix[left, i] += 1.0 - weight
            matrix[right, i] += weight
        else:
            raise ValueError(f"interpolation_mode {mode!r} is not supported (linear, nearest)")
    return matrix


def _lower_median(x: np.ndarray) -> np.ndarray:
    """torch.median: the lower of the two middle values when the count is even."""
    return np.sort(x, axis=1)[:, (x.shape[1] - 1) // 2 : (x.shape[1] + 1) // 2]


def window_statistics(x: np.ndarray, scaler: str, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Shift and scale per window ([batch, 1] each), as neuralforecast's scalers compute them."""
    if scaler == "identity":
        return np.zeros((len(x), 1)), np.ones((len(x), 1))
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=1, keepdims=True))
    if scaler == "standard":
        shift, scale = mean, std
    elif scaler == "robust":
        shift = _lower_median(x)
        scale = _lower_median(np.abs(x - shift))
        scale = np.where(scale > 0, scale, std * MAD_FROM_STD)
    else:
        raise ValueError(f"scaler {scaler!r} is not supported (robust, standard, identity)")
    return shift, np.where(scale == 0, 1.0, scale) + eps


class NHitsForecaster:
    """A trained N-HITS loaded from its export directory (``weights.npz`` + ``config.json``).

    ``confidence`` (in :meth:`forecast`) is the hit rate of the predicted next-day direction
    measured on the time-based validation split, among validation windows whose predicted move,
    in units of the window's own daily volatility, fell in the same bin. It is therefore the
    probability, as measured out of sample, that the direction is right; it stays near 0.5
    when the model has no edge, as it should for daily stock prices.
    """

    def __init__(self, config: dict, weights: dict[str, np.ndarray]) -> None:
        if config.get("format") != FORMAT:
            raise ValueError(
                f"config.json: format must be {FORMAT!r}, got {config.get('format')!r}"
            )
        self.config = config
        self.input_size: int = int(config["input_size"])
        self.horizon: int = int(config["horizon"])
        self.min_rows: int = self.input_size
        self.version: str = str(config["version"])
        self._scaler: str = config["scaler"]["type"]
        self._eps: float = float(config["scaler"]["eps"])
        self._blocks = [
            self._block(i, spec, weights, config["interpolation_mode"])
            for i, spec in enumerate(config["blocks"])
        ]
        self.calibration: dict | None = config.get("calibration")

    def _block(self, index: int, spec: dict, weights: dict, mode: str) -> _Block:
        layers: list[tuple[np.ndarray, np.ndarray] | None] = []
        for j, kind in enumerate(spec["layers"]):
            if kind == "linear":
                weight = weights[f"block{index}.layer{j}.weight"].astype(np.float32)
                bias = weights[f"block{index}.layer{j}.bias"].astype(np.float32)
                layers.append((np.ascontiguousarray(weight.T), bias))
            elif kind == "relu":
                layers.append(None)
            elif kind == "dropout":
                continue  # the identity in eval mode, which is how neuralforecast predicts
            else:
                raise ValueError(f"config.json: block {index} layer {j}: unknown kind {kind!r}")
        return _Block(
            pool_size=int(spec["pool_size"]),
            layers=layers,
            interpolation=interpolation_matrix(int(spec["n_knots"]), self.horizon, mode).astype(
                np.float32
            ),
        )

    @classmethod
    def load(cls, directory: Path) -> NHitsForecaster:
        """Read an export directory; no pickle is ever loaded."""
        directory = Path(directory)
        config = json.loads((directory / CONFIG_FILE).read_text())
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as archive:
            weights = {name: archive[name] for name in archive.files}
        return cls(config, weights)

    def predict(self, closes: np.ndarray) -> np.ndarray:
        """Predicted closes [batch, horizon] from closes [batch, >= input_size] (oldest first;
        only the last ``input_size`` of each row are used)."""
        x = np.asarray(closes, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"closes: expected a 2-D array [batch, days], got shape {x.shape}")
        if x.shape[1] < self.min_rows:
            raise ProtocolError(
                "sequence_data",
                f"{x.shape[1]} daily rows given; N-HITS needs at least {self.min_rows}",
                required_minimum=self.min_rows,
            )
        x = x[:, -self.input_size :]
        if not np.isfinite(x).all() or (x <= 0).any():
            raise ValueError("closes: must be positive finite prices")
        shift, scale = window_statistics(x, self._scaler, self._eps)
        # The network runs in float32, as it was trained: half the weight traffic of float64.
        residuals = ((x - shift) / scale)[:, ::-1].astype(np.float32)
        forecast = np.repeat(residuals[:, :1], self.horizon, axis=1)
        for block in self._blocks:
            hidden = _max_pool(residuals, block.pool_size)
            for layer in block.layers:
                hidden = np.maximum(hidden, 0.0) if layer is None else hidden @ layer[0] + layer[1]
            residuals = residuals - hidden[:, : self.input_size]
            forecast = forecast + hidden[:, self.input_size :] @ block.interpolation
        return forecast.astype(np.float64) * scale + shift

    def forecast(self, windows: list[Sequence[float]]) -> list[PriceForecast]:
        """One :class:`PriceForecast` per window of closes (windows may differ in length)."""
        if self.calibration is None:
            raise RuntimeError("this export has no validation calibration; train it with train()")
        if not windows:
            return []
        for i, window in enumerate(windows):
            if len(window) < self.min_rows:
                raise ProtocolError(
                    "sequence_data",
                    f"window {i} has {len(window)} daily rows; N-HITS needs at least "
                    f"{self.min_rows}",
                    required_minimum=self.min_rows,
                )
        closes = np.array([list(w)[-self.input_size :] for w in windows], dtype=np.float64)
        paths = self.predict(closes)
        current = closes[:, -1]
        sigma = daily_volatility(closes)
        edge = move_in_sigmas(current, paths[:, 0], sigma)
        conf = self.calibration["confidence"]
        hit_rates = np.asarray(conf["hit_rates"])[np.searchsorted(conf["edges"], edge)]
        residual_q = self.calibration["quantiles"]
        return [
            PriceForecast(
                current_price=float(current[i]),
                forecast_path=[float(p) for p in paths[i]],
                quantiles={
                    name: float(paths[i, 0] * math.exp(sigma[i] * q))
                    for name, q in residual_q.items()
                },
                confidence=float(hit_rates[i]),
                model_version=self.version,
            )
            for i in range(len(windows))
        ]


def move_in_sigmas(last: np.ndarray, predicted: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The size of a predicted next-day move in daily volatilities: what confidence is binned on."""
    return np.abs(predicted / last - 1.0) / sigma


def daily_volatility(closes: np.ndarray) -> np.ndarray:
    """Std of each window's daily log returns, floored so a flat window never divides by 0."""
    return np.maximum(np.diff(np.log(closes), axis=1).std(axis=1), 1e-8)


def _max_pool(x: np.ndarray, size: int) -> np.ndarray:
    """torch MaxPool1d(kernel=stride=size, ceil_mode=True): a short last window is kept."""
    if size == 1:
        return x
    pad = -x.shape[1] % size
    if pad:
        x = np.concatenate([x, np.full((len(x), pad), -np.inf, dtype=x.dtype)], axis=1)
    return x.reshape(len(x), -1, size).max(axis=2)
