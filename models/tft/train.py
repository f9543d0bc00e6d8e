"""Train the TFT on the bundled prices (all symbols, one model) and store it as ``tft:<version>``.

``python -m models.tft.train [--prices CSV] [--symbols ...] [--max-epochs N] [--out DIR]``
(the command line is :mod:`models.tft.cli`)

Time-based split: fit on sessions up to ``train_end``, early-stop on ``train_end < t <=
valid_end`` (the demo day, so the demo never forecasts a day the model was fitted or stopped
on), and report metrics on the validation period and on the untouched test period after it.
Metrics are for the next close, computed with :class:`TFTPredictor` on every
(symbol, day) window: MAE (price and log return), direction hit rate and p10-p90 coverage.
"""

from __future__ import annotations

import copy
import datetime as dt
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from models.lightning_quiet import quiet_lightning
from models.tft.dataset import QUANTILES, training_dataset
from models.tft.evaluate import next_close_metrics
from models.tft.features import history_frame, load_prices
from models.tft.persist import config_json, persist
from models.tft.predictor import TFTPredictor
from models.train_args import TRAIN_END, VALID_END
from premarket.data import PRICES_CSV


@dataclass
class TrainConfig:
    """Everything a training run depends on; the defaults are the production model."""

    prices_csv: Path = PRICES_CSV
    symbols: tuple[str, ...] | None = None
    """None: every symbol in the CSV."""
    train_end: dt.date = TRAIN_END
    valid_end: dt.date = VALID_END
    test_end: dt.date | None = None
    """None: the end of the data."""
    hidden_size: int = 16
    attention_head_size: int = 2
    hidden_continuous_size: int = 8
    dropout: float = 0.1
    learning_rate: float = 3e-3
    batch_size: int = 128
    max_epochs: int = 30
    patience: int = 4
    loader_workers: int = 1
    """Processes building batches (pytorch-forecasting assembles samples in Python)."""
    limit_train_batches: int | float = 50
    """Batches per epoch (shuffled): short epochs let early stopping look often."""
    seed: int = 42
    accelerator: str = "auto"
    """Lightning's accelerator: ``auto`` takes a GPU when torch sees one."""
    devices: int | str = 1
    """GPUs (or ``auto``); with more than one, ``strategy="ddp"`` trains data-parallel."""
    strategy: str = "auto"
    progress: bool = True
    out: Path | None = None
    """Also keep a plain copy of the model files here."""
    store: bool = True
    """Save into the BentoML store (``tft:<version>``)."""


@dataclass
class Fitted:
    """A trained network with what made it (the parity test needs the live dataset)."""

    model: Any
    dataset: Any
    prices: pd.DataFrame
    config: TrainConfig
    epochs: int
    seconds: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def _keep_best(report: bool):
    """A Lightning callback that remembers the weights of the best validation epoch (early
    stopping alone would leave the last ones) and, if ``report``, prints one line per epoch
    (the rich bar is invisible when output goes to a log)."""
    import lightning.pytorch as pl

    class KeepBest(pl.Callback):
        def __init__(self) -> None:
            self.best = float("inf")
            self.state: dict | None = None
            self.started = time.perf_counter()

        def on_validation_end(self, trainer, module) -> None:
            loss = trainer.callback_metrics.get("val_loss")
            if loss is None or trainer.sanity_checking:
                return
            if float(loss) < self.best:
                self.best = float(loss)
                self.state = copy.deepcopy(module.state_dict())
            if report:
                print(
                    f"epoch {trainer.current_epoch}: val_loss {float(loss):.5f} "
                    f"(best {self.best:.5f}), {time.perf_counter() - self.started:.0f} s",
                    flush=True,
                )

    return KeepBest()


def _split(frame: pd.DataFrame, config: TrainConfig) -> tuple[int, int]:
    """The last ``time_idx`` on or before ``train_end`` and ``valid_end``; a ValueError naming
    the field when a period would be empty."""
    if config.train_end >= config.valid_end:
        raise ValueError(f"train_end: {config.train_end} must be before valid_end")
    first, last = frame["date"].min(), frame["date"].max()
    if config.train_end < first:
        raise ValueError(f"train_end: {config.train_end} is before the first session {first}")
    if config.valid_end >= last:
        raise ValueError(f"valid_end: {config.valid_end} leaves no test period (data ends {last})")
    train_end = int(frame.loc[frame["date"] <= config.train_end, "time_idx"].max())
    return train_end, int(frame.loc[frame["date"] <= config.valid_end, "time_idx"].max())


def fit(config: TrainConfig) -> Fitted:
    """Fit a TFT per ``config`` and evaluate it; nothing is written."""
    with warnings.catch_warnings():
        # pytorch-forecasting scales the per-window target statistics with plain arrays
        # (harmless, but it warns for every sample) and Lightning advertises its add-ons.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        warnings.filterwarnings("ignore", message="X has feature names")
        # the per-symbol approximation the library fits before per-window normalisation
        warnings.filterwarnings("ignore", message="scale is below 1e-7")
        warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`")
        warnings.filterwarnings("ignore", message=".*does not have many workers")
        with quiet_lightning():
            return _fit(config)


def _fit(config: TrainConfig) -> Fitted:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping
    from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
    from pytorch_forecasting.metrics import QuantileLoss

    started = time.perf_counter()
    pl.seed_everything(config.seed, workers=True, verbose=False)
    prices = load_prices(config.prices_csv, config.symbols)
    frame = history_frame(prices)
    train_end, valid_end = _split(frame, config)

    training = training_dataset(frame, train_end_idx=train_end)
    validation = TimeSeriesDataSet.from_dataset(
        training,
        frame[frame["time_idx"] <= valid_end],
        min_prediction_idx=train_end + 1,
        stop_randomization=True,
    )
    loader_options = {"num_workers": config.loader_workers}
    if config.loader_workers:
        loader_options["persistent_workers"] = True
    train_loader = training.to_dataloader(
        train=True, batch_size=config.batch_size, **loader_options
    )
    valid_loader = validation.to_dataloader(
        train=False, batch_size=config.batch_size * 4, **loader_options
    )

    model = TemporalFusionTransformer.from_dataset(
        training,
        hidden_size=config.hidden_size,
        attention_head_size=config.attention_head_size,
        hidden_continuous_size=config.hidden_continuous_size,
        dropout=config.dropout,
        learning_rate=config.learning_rate,
        loss=QuantileLoss(quantiles=list(QUANTILES)),
        reduce_on_plateau_patience=2,
    )
    keep_best = _keep_best(config.progress)
    callbacks = [EarlyStopping(monitor="val_loss", patience=config.patience), keep_best]
    gpu = config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    threads = torch.get_num_threads()
    if not gpu:
        # The TFT's operations are tiny: intra-op threads only add synchronisation (measured:
        # 10x slower per batch with 2 threads on a busy 2-core machine), so one thread computes
        # while the loader worker builds the next batches on the other core.
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            accelerator=config.accelerator,
            devices=config.devices,
            strategy=config.strategy,
            max_epochs=config.max_epochs,  # a budget in epochs, never in seconds: the same
            # commit, seed and threads give the same model however busy the machine is
            limit_train_batches=config.limit_train_batches,
            gradient_clip_val=0.1,
            callbacks=callbacks,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,  # one line per epoch instead (``_keep_best``)
            enable_model_summary=False,
            default_root_dir=root,
        )
        try:
            trainer.fit(model, train_dataloaders=train_loader, val_dataloaders=valid_loader)
        finally:
            torch.set_num_threads(threads)
    if keep_best.state is not None:
        model.load_state_dict(keep_best.state)
    model = model.cpu().eval()
    fitted = Fitted(
        model=model,
        dataset=training,
        prices=prices,
        config=config,
        epochs=trainer.current_epoch,
        seconds=time.perf_counter() - started,
    )
    predictor = TFTPredictor(model, config_json(fitted, version="unsaved"), "cpu")
    fitted.metrics = {
        "validation": next_close_metrics(
            predictor, prices, after=config.train_end, until=config.valid_end
        ),
        "test": next_close_metrics(
            predictor, prices, after=config.valid_end, until=config.test_end
        ),
    }
    return fitted


def train(config: TrainConfig) -> Path:
    """Fit, print the validation metrics, and persist; return the model directory."""
    if not config.store and config.out is None:
        raise ValueError("out: needed when the model is not stored")
    from models.tft.cli import print_metrics

    fitted = fit(config)
    print_metrics(fitted.metrics)
    print(f"trained {fitted.epochs} epochs in {fitted.seconds:.0f} s")
    return persist(fitted)


if __name__ == "__main__":
    from models.tft.cli import main

    sys.exit(main())
