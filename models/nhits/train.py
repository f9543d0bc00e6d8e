"""Train the N-HITS backup on the bundled daily closes and put it in the BentoML store.

One global neuralforecast ``NHITS`` over all symbols (robust per-window scaling, so one network
serves a $20 and a $2000 stock), fixed seed, and the TFT's time split (dates, not day counts):

- fit on sessions up to ``train_end`` (2021-12-31);
- validate on ``train_end < t <= valid_end`` (``valid_end`` is the demo day, 2022-09-20): early
  stopping, the best weights, and the calibration of confidence and quantiles
  (:mod:`models.nhits.calibration`) all come from this period;
- test on the sessions after ``valid_end`` (to 2023-12-29), which nothing above ever sees.

So neither the demo day nor the documented 2022-2023 backtest is in the training data. Both
periods' metrics are stored next to the naive last-close forecast.

    python -m models.nhits.train [--prices CSV] [--symbols ...] [--max-steps N]
                                 [--train-end YYYY-MM-DD] [--valid-end YYYY-MM-DD] [--out DIR]

(the command line is :mod:`models.nhits.cli`)
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import store
from models.lightning_quiet import quiet_lightning
from models.nhits.calibration import calibrate, metrics
from models.nhits.export import export_nhits, read_config, write_config
from models.nhits.inference import NHitsForecaster
from models.nhits.train_data import (
    Series,
    load_series,
    sessions_until,
    sliding_windows,
    to_long_frame,
)
from models.train_args import TRAIN_END, VALID_END
from premarket.data import PRICES_CSV, SYMBOLS

STORE_NAME = "nhits"
VAL_MONITOR = "ptl/val_loss"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained model. The defaults are the production model."""

    input_size: int = 30
    horizon: int = 5
    max_steps: int = 400
    """A cap: early stopping ends the production fit near step 175 (best at 75)."""
    hidden: int = 256
    """Width of every block's MLP (``mlp_units = 3 * [[hidden, hidden]]``). NHITS's default of
    512 quadruples the weights (10 MB) and pushes a one-window numpy forward past the 1 ms
    target (measured 1.5 ms on two busy cores); it also trains about four times slower."""
    windows_batch_size: int = 256
    """Chosen, with the rest of the defaults, by validation next-day MAE alone among: learning
    rate 1e-3 / 3e-4 / 1e-4 / 3e-5, 256 / 1024 / 4096 windows per step, MAE / Huber loss,
    robust / standard scaler, dropout 0 / 0.2, all early-stopped. They all landed within 2% of
    each other and of the naive last close (daily closes are close to a random walk); 256 was
    the best and the cheapest."""
    learning_rate: float = 1e-3
    scaler_type: str = "robust"
    loss: str = "mae"
    """``mae`` or ``huber`` (both point losses, so the numpy forward pass is unchanged)."""
    dropout: float = 0.0
    """NHITS's ``dropout_prob_theta``: training only, the numpy forward pass skips it."""
    train_end: dt.date = TRAIN_END
    """Last day whose sessions the weights are fitted on (the TFT's ``train_end``)."""
    valid_end: dt.date = VALID_END
    """Last validation day: early stopping and calibration use ``train_end < t <= valid_end``;
    later sessions are the untouched test period."""
    val_check_steps: int = 25
    early_stop_patience: int = 5
    """Validation checks without improvement before stopping; 0 trains all ``max_steps``.
    Either way the weights of the best validation check are the ones kept."""
    seed: int = 1
    prices_csv: Path = PRICES_CSV
    symbols: tuple[str, ...] | None = SYMBOLS
    """None: every symbol of ``prices_csv``."""
    out_dir: Path | None = None
    """Where to export; a new temporary directory when None."""
    progress: bool = True
    accelerator: str = "auto"
    """Lightning's accelerator (a GPU when torch sees one); the export is numpy either way."""
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Split:
    """Session indices of the split: train ``[:train_stop]``, validation
    ``[train_stop:valid_stop]``, test ``[valid_stop:]`` (all symbols share one calendar)."""

    dates: np.ndarray
    train_stop: int
    valid_stop: int

    def ranges(self) -> dict[str, list[str]]:
        d = self.dates
        return {
            "train_range": [str(d[0]), str(d[self.train_stop - 1])],
            "validation_range": [str(d[self.train_stop]), str(d[self.valid_stop - 1])],
            "test_range": [str(d[self.valid_stop]), str(d[-1])],
        }


def split_of(config: TrainConfig, series: list[Series]) -> Split:
    """The split's session indices, or a ValueError naming the field that leaves a part empty."""
    dates = series[0].dates
    if any(len(s.dates) != len(dates) or (s.dates != dates).any() for s in series):
        raise ValueError("symbols: every series must cover the same trading days")
    if config.train_end >= config.valid_end:
        raise ValueError(f"train_end: {config.train_end} must be before valid_end")
    split = Split(
        dates,
        sessions_until(dates, str(config.train_end)),
        sessions_until(dates, str(config.valid_end)),
    )
    window = config.input_size + config.horizon
    if split.train_stop < window:
        raise ValueError(
            f"train_end: {config.train_end} leaves {split.train_stop} sessions to train on, "
            f"fewer than input_size + horizon = {window}"
        )
    if split.valid_stop - split.train_stop < window:
        raise ValueError(
            f"valid_end: {config.valid_end} leaves {split.valid_stop - split.train_stop} "
            f"validation sessions, fewer than input_size + horizon = {window}"
        )
    if len(dates) - split.valid_stop < config.horizon:
        raise ValueError(f"valid_end: {config.valid_end} leaves no test period after it")
    return split


def fit(config: TrainConfig, series: list[Series]) -> Any:
    """Fit a ``NeuralForecast`` holding one ``NHITS`` on the training sessions, validating
    (early stopping, best weights) on the validation sessions; test sessions are never passed."""
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MAE, HuberLoss
    from neuralforecast.models import NHITS

    losses = {"mae": MAE, "huber": HuberLoss}
    if config.loss not in losses:
        raise ValueError(f"loss: {config.loss!r} is not one of {sorted(losses)}")
    split = split_of(config, series)
    seen = [
        Series(s.symbol, s.dates[: split.valid_stop], s.closes[: split.valid_stop]) for s in series
    ]
    callbacks = [_keep_best_weights(config.max_steps if config.progress else None)]
    with quiet_lightning():  # its seed line, start-up lines and adverts
        model = NHITS(
            h=config.horizon,
            input_size=config.input_size,
            mlp_units=3 * [[config.hidden, config.hidden]],
            loss=losses[config.loss](),
            dropout_prob_theta=config.dropout,
            max_steps=config.max_steps,
            learning_rate=config.learning_rate,
            windows_batch_size=config.windows_batch_size,
            val_check_steps=max(1, min(config.val_check_steps, config.max_steps)),
            early_stop_patience_steps=config.early_stop_patience or -1,
            scaler_type=config.scaler_type,
            random_seed=config.seed,
            accelerator=config.accelerator,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,  # one line per validation check instead (see below)
            callbacks=callbacks,
            **config.trainer_kwargs,
        )
        nf = NeuralForecast(models=[model], freq=1)
        nf.fit(to_long_frame(seen), val_size=split.valid_stop - split.train_stop)
    return nf


def _keep_best_weights(report_of: int | None = None) -> Any:
    """A Lightning callback that puts back the weights of the best validation check when
    training ends: neuralforecast's early stopping stops ``patience`` checks after the best one
    and keeps the last weights, which are worse by construction. With ``report_of`` (the step
    budget) it prints one line per check: Lightning's bar counts epochs of one batch here
    ("Epoch 199/-2"), and is invisible in a log anyway."""
    from pytorch_lightning.callbacks import Callback

    class KeepBestWeights(Callback):
        def __init__(self) -> None:
            self.best = math.inf
            self.state: dict | None = None
            self.started = time.perf_counter()

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            loss = trainer.callback_metrics.get(VAL_MONITOR)
            if trainer.sanity_checking or loss is None:
                return
            if float(loss) < self.best:
                self.best = float(loss)
                module.best_step = int(trainer.global_step)
                self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            if report_of is not None:
                print(
                    f"step {trainer.global_step}/{report_of}: valid_loss {float(loss):.4f} "
                    f"(best {self.best:.4f}), {time.perf_counter() - self.started:.0f} s",
                    flush=True,
                )

        def on_fit_end(self, trainer: Any, module: Any) -> None:
            module.stopped_step = int(trainer.global_step)
            if self.state is not None:
                module.load_state_dict(self.state)

    return KeepBestWeights()


def windows_between(
    series: list[Series], input_size: int, horizon: int, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """All (input, target) windows of every symbol whose whole target lies in sessions
    ``[start, stop)``; inputs may reach back before ``start`` (they are known history)."""
    pairs = [sliding_windows(s.closes, input_size, horizon, start, stop) for s in series]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def train(config: TrainConfig) -> Path:
    """Fit, export, calibrate on the validation period, measure validation and test periods;
    return the export directory."""
    series = load_series(config.symbols, config.prices_csv)
    split = split_of(config, series)
    started, cpu_started = time.perf_counter(), time.process_time()
    nf = fit(config, series)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    network = nf.models[0]
    out = Path(config.out_dir or tempfile.mkdtemp(prefix="nhits-"))
    export_nhits(
        nf,
        out,
        extra={
            "training": {
                "symbols": [s.symbol for s in series],
                "data_file": Path(config.prices_csv).name,
                **split.ranges(),
                "train_end": str(config.train_end),
                "valid_end": str(config.valid_end),
                "max_steps": config.max_steps,
                "best_step": getattr(network, "best_step", None),
                "stopped_step": getattr(network, "stopped_step", None),
                "hidden": config.hidden,
                "windows_batch_size": config.windows_batch_size,
                "learning_rate": config.learning_rate,
                "loss": config.loss,
                "seed": config.seed,
                "train_seconds": round(seconds, 1),
                "train_cpu_seconds": round(cpu_seconds, 1),
            }
        },
    )
    model = NHitsForecaster.load(out)
    exported = read_config(out)
    size = (config.input_size, config.horizon)
    inputs, targets = windows_between(series, *size, split.train_stop, split.valid_stop)
    paths = model.predict(inputs)
    exported["calibration"] = calibrate(inputs, targets, paths)
    exported["validation"] = metrics(inputs, targets, paths, exported["calibration"])
    inputs, targets = windows_between(series, *size, split.valid_stop, len(split.dates))
    exported["test"] = metrics(inputs, targets, model.predict(inputs), exported["calibration"])
    write_config(out, exported)
    return out


def save_to_store(directory: Path) -> str:
    """Copy an export into the BentoML store as ``nhits:<generated>``; return the tag."""
    config = read_config(directory)
    metadata = {
        "version": config["version"],
        "input_size": config["input_size"],
        "horizon": config["horizon"],
        "training": config["training"],
        "validation": config["validation"],
        "test": config["test"],
    }
    return store.save(STORE_NAME, directory, metadata=metadata, labels={"family": "nhits"})


if __name__ == "__main__":
    from models.nhits.cli import main

    sys.exit(main())
