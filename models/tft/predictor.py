"""Fast batched TFT inference: raw OHLCV rows in, price forecasts out, one forward pass.

``TemporalFusionTransformer.predict()`` builds a ``TimeSeriesDataSet``, a dataloader and a
Lightning trainer on every call. The predictor instead turns each request's rows into the exact
tensors the dataset's collate function would produce (same features from
:mod:`models.tft.features`, same scalers, same per-window target normalisation, same padding) and
calls the network's ``forward`` once for the whole batch, under ``torch.inference_mode`` on CUDA
when available, else CPU. A test checks that its quantiles match ``predict()`` to 1e-5.

Forecast semantics (per request):

- the network predicts quantiles of the next ``horizon`` daily log returns; the next close by
  quantile is ``last_close * exp(q)``, so ``quantiles`` (p02 ... p98) are prices;
- ``forecast_path`` is ``last_close * exp(cumulative median return)`` for each forecast day;
- ``confidence`` is the predicted probability that the direction of the next close is right:
  with ``F`` the predicted CDF of the next return (linear between the quantile levels, flat
  beyond p02/p98), it is ``1 - F(0)`` when the median is up and ``F(0)`` when it is down, so it
  lies in 0.5..0.98 (0.5 for a median of exactly zero);
- when a request carries no dates, its rows are taken as consecutive NYSE sessions ending at the
  latest session on or before today (New York), and the forecast days as the sessions after.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.tft.dataset import build_network, quantile_key
from models.tft.features import (
    CALENDAR_FEATURES,
    PRICE_FEATURES,
    WARMUP_ROWS,
    calendar_features,
    next_sessions,
    price_features,
    sessions_ending,
)
from premarket.protocol import PriceForecast

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"

Request = tuple[str, Sequence[Sequence[float]], Sequence[dt.date] | None]


@dataclass
class _Window:
    """One request reduced to model inputs (float64, unscaled)."""

    encoder: np.ndarray  # encoder_length x (price + calendar features)
    decoder_calendar: np.ndarray  # horizon x calendar features
    last_close: float


class TFTPredictor:
    """A trained TFT, loaded from plain files, that forecasts many symbols in one pass."""

    def __init__(self, network, config: dict[str, Any], device: str | torch.device) -> None:
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.config = config
        spec = config["dataset"]
        self.version: str = config["version"]
        self.quantiles: list[float] = list(config["quantiles"])
        self.horizon: int = spec["horizon"]
        self.min_encoder_length: int = spec["min_encoder_length"]
        self.max_encoder_length: int = spec["max_encoder_length"]
        self.min_rows: int = self.min_encoder_length + WARMUP_ROWS
        """Fewest daily rows a request needs (the warm-up rows feed the rolling features)."""
        self.max_rows: int = self.max_encoder_length + WARMUP_ROWS
        """Most rows used; older rows of a longer request cannot change the forecast."""
        self._target = spec["target"]
        self._reals: list[str] = spec["reals"]
        self._scalers: dict[str, list[float]] = spec["scalers"]
        self._columns = {name: i for i, name in enumerate(PRICE_FEATURES + CALENDAR_FEATURES)}
        self._median = self.quantiles.index(0.5)

    @classmethod
    def load(cls, directory: Path, device: str | None = None) -> TFTPredictor:
        """Load ``config.json`` and ``weights.safetensors`` from a model directory."""
        from safetensors.torch import load_model

        directory = Path(directory)
        config = json.loads((directory / CONFIG_FILE).read_text())
        network = build_network(
            config["hparams"], config["quantiles"], config["dataset"]["target_normalizer"]
        )
        load_model(network, str(directory / WEIGHTS_FILE), strict=True)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(network, config, device)

    # -- inputs ---------------------------------------------------------------------------

    def _validated(self, symbol: str, rows, dates) -> tuple[np.ndarray, tuple]:
        """The last ``max_rows`` rows as an array and their dates, or a ValueError naming the
        symbol and the problem."""
        values = np.asarray(rows, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != 5:
            raise ValueError(f"{symbol}: rows must be [open, high, low, close, volume] lists")
        if len(values) < self.min_rows:
            raise ValueError(
                f"{symbol}: {len(values)} rows given, the TFT needs at least {self.min_rows}"
            )
        if not np.isfinite(values).all() or (values[:, :4] <= 0).any() or (values[:, 4] < 0).any():
            raise ValueError(f"{symbol}: prices must be positive and volumes non-negative numbers")
        values = values[-self.max_rows :]
        if dates is None:
            return values, sessions_ending(len(values))
        if len(dates) != len(rows):
            raise ValueError(f"{symbol}: {len(dates)} dates for {len(rows)} rows")
        return values, tuple(dates[-len(values) :])

    def _windows(self, requests: list[Request]) -> list[_Window]:
        """Model inputs of every request; windows of equal length share one vectorised
        feature computation, and requests with the same dates share their calendar."""
        checked = [self._validated(*request) for request in requests]
        by_length: dict[int, list[int]] = {}
        for i, (values, _) in enumerate(checked):
            by_length.setdefault(len(values), []).append(i)
        prices: list[np.ndarray] = [np.empty(0)] * len(checked)
        for indices in by_length.values():
            stacked = price_features(np.stack([checked[i][0] for i in indices]))
            for i, features in zip(indices, stacked, strict=True):
                prices[i] = features[WARMUP_ROWS:]
        windows = []
        for (values, dates), features in zip(checked, prices, strict=True):
            encoder_calendar, decoder_calendar = _calendar(dates, self.horizon)
            windows.append(
                _Window(
                    encoder=np.column_stack([features, encoder_calendar]),
                    decoder_calendar=decoder_calendar,
                    last_close=float(values[-1, 3]),
                )
            )
        return windows

    def _batch(self, windows: list[_Window]) -> dict[str, torch.Tensor]:
        """The tensors ``TimeSeriesDataSet._collate_fn`` would build for these windows: every
        variable scaled as the dataset scales it, encoders right-padded with zeros."""
        batch = len(windows)
        lengths = np.array([len(w.encoder) for w in windows])
        max_len = int(lengths.max())
        raw = np.zeros((batch, max_len, len(self._columns)))
        for b, window in enumerate(windows):
            raw[b, : lengths[b]] = window.encoder
        mask = np.arange(max_len)[None, :] < lengths[:, None]  # batch x max_len
        future = np.stack([w.decoder_calendar for w in windows])  # batch x horizon x calendar

        # EncoderNormalizer("standard", center=False): unbiased std of the float32 encoder
        # target plus float32 eps; the target input is the target divided by it.
        target = np.where(mask, raw[..., self._columns[self._target]].astype(np.float32), 0.0)
        mean = target.sum(axis=1) / lengths
        var = (((target - mean[:, None]) * mask) ** 2).sum(axis=1) / (lengths - 1)
        scale = (np.sqrt(var).astype(np.float32) + np.finfo(np.float32).eps).astype(np.float32)

        encoder = np.zeros((batch, max_len, len(self._reals)))
        decoder = np.zeros((batch, self.horizon, len(self._reals)))
        for j, name in enumerate(self._reals):
            if name == self._target:
                encoder[..., j] = target / scale[:, None]
            elif name == "relative_time_idx":
                encoder[..., j] = (np.arange(max_len)[None, :] - lengths[:, None]) / (
                    self.max_encoder_length
                )
                decoder[..., j] = np.arange(self.horizon) / self.max_encoder_length
            elif name == "encoder_length":
                value = (lengths - 0.5 * self.max_encoder_length) / self.max_encoder_length * 2.0
                encoder[..., j] = decoder[..., j] = value[:, None]
            elif name in (f"{self._target}_center", f"{self._target}_scale"):
                stat = scale if name.endswith("_scale") else np.zeros(batch, np.float32)
                mu, sigma = self._scalers[name]
                encoder[..., j] = decoder[..., j] = ((stat - mu) / sigma)[:, None]
            else:
                mu, sigma = self._scalers[name]
                encoder[..., j] = (raw[..., self._columns[name]] - mu) / sigma
                if name in CALENDAR_FEATURES:
                    decoder[..., j] = (future[..., CALENDAR_FEATURES.index(name)] - mu) / sigma
                else:  # unknown in the future: the dataset's placeholder rows hold 0
                    decoder[..., j] = (0.0 - mu) / sigma
        encoder *= mask[..., None]
        target_scale = np.column_stack([np.zeros(batch, np.float32), scale])

        device = self.device
        return {
            "encoder_cat": torch.zeros((batch, max_len, 0), dtype=torch.long, device=device),
            "decoder_cat": torch.zeros((batch, self.horizon, 0), dtype=torch.long, device=device),
            "encoder_cont": torch.from_numpy(encoder.astype(np.float32)).to(device),
            "decoder_cont": torch.from_numpy(decoder.astype(np.float32)).to(device),
            "encoder_lengths": torch.from_numpy(lengths).to(device),
            "decoder_lengths": torch.full((batch,), self.horizon, device=device),
            "target_scale": torch.from_numpy(target_scale).to(device),
        }

    # -- forecasting ----------------------------------------------------------------------

    def _run(self, requests: list[Request]) -> tuple[list[_Window], dict[str, torch.Tensor]]:
        if not requests:
            return [], {}
        windows = self._windows(requests)
        with torch.inference_mode():
            out = self.network(self._batch(windows))
        return windows, out

    def quantile_returns(self, requests: list[Request]) -> np.ndarray:
        """The network's quantiles of the next ``horizon`` log returns, requests x horizon x
        quantiles (what ``predict(mode="quantiles")`` returns for the same windows)."""
        _, out = self._run(requests)
        if not out:
            return np.zeros((0, self.horizon, len(self.quantiles)))
        return out["prediction"].float().cpu().numpy()

    def forecast(
        self, requests: list[Request], include_importance: bool = False
    ) -> list[PriceForecast]:
        """Forecast every ``(symbol, rows, dates)`` request in one batched forward pass.

        Raises ValueError (naming the symbol and the minimum) for a request that is too short.
        """
        windows, out = self._run(requests)
        if not windows:
            return []
        returns = out["prediction"].float().cpu().numpy().astype(np.float64)
        importance = self._importance(out) if include_importance else [None] * len(windows)
        last = np.array([w.last_close for w in windows])
        # Quantiles may cross; sorting them (monotone rearrangement) gives a valid distribution
        # whose median, band and direction probability all agree with each other.
        ordered = np.sort(returns, axis=2)
        paths = last[:, None] * np.exp(np.cumsum(ordered[:, :, self._median], axis=1))
        next_day = ordered[:, 0, :]
        bands = last[:, None] * np.exp(next_day)
        keys = [quantile_key(level) for level in self.quantiles]
        return [
            PriceForecast(
                current_price=last[b],
                forecast_path=paths[b].tolist(),
                quantiles=dict(zip(keys, bands[b].tolist(), strict=True)),
                confidence=direction_confidence(
                    next_day[b, self._median], next_day[b], self.quantiles
                ),
                model_version=self.version,
                variable_importance=importance[b],
            )
            for b in range(len(windows))
        ]

    def _importance(self, out: dict[str, torch.Tensor]) -> list[dict[str, dict[str, float]]]:
        """Per request: the variable-selection weights of the encoder, decoder and statics."""
        interpretation = self.network.interpret_output(out, reduction="none")
        groups = {
            "encoder": (interpretation["encoder_variables"], self.network.encoder_variables),
            "decoder": (interpretation["decoder_variables"], self.network.decoder_variables),
            "static": (interpretation["static_variables"], self.network.static_variables),
        }
        arrays = {k: (v.float().cpu().numpy(), names) for k, (v, names) in groups.items()}
        batch = len(out["prediction"])
        return [
            {
                group: {name: round(float(w), 6) for name, w in zip(names, values[b], strict=True)}
                for group, (values, names) in arrays.items()
            }
            for b in range(batch)
        ]


@lru_cache(maxsize=64)
def _calendar(dates: tuple, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Calendar features of the encoder rows (after the warm-up) and of the next sessions."""
    future = next_sessions(dates[-1], horizon)
    return (
        calendar_features(dates)[WARMUP_ROWS:],
        calendar_features(future, previous=dates[-1]),
    )


def direction_confidence(median: float, levels: np.ndarray, quantiles: Sequence[float]) -> float:
    """Probability that the sign of the next return is the sign of ``median``.

    ``levels`` are the sorted return quantiles at probabilities ``quantiles``; the CDF at zero is
    interpolated linearly between them and held at the outer levels beyond them.
    """
    if median == 0.0:
        return 0.5
    below_zero = float(np.interp(0.0, levels, quantiles))  # F(0), the CDF at a zero return
    return 1.0 - below_zero if median > 0 else below_zero
