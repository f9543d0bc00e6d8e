"""Train the TFT on the bundled prices (all symbols, one model) and store it as ``tft:<version>``.

``python -m models.tft.train [--if-missing] [--max-epochs N] [--out DIR]``

Time-based split: fit on sessions up to ``train_end``, early-stop on ``train_end < t <=
valid_end`` (the demo day, so the demo never forecasts a day the model was fitted or stopped
on), and report metrics on the validation period and on the untouched test period after it.
Metrics are for the next close, computed with :class:`TFTPredictor` on every
(symbol, day) window: MAE (price and log return), direction hit rate and p10-p90 coverage.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from models.tft.dataset import (
    HORIZON,
    QUANTILES,
    build_network,
    dataset_spec,
    network_hparams,
    training_dataset,
)
from models.tft.evaluate import next_close_metrics
from models.tft.features import history_frame, load_prices
from models.tft.predictor import CONFIG_FILE, WEIGHTS_FILE, TFTPredictor
from premarket.data import DEMO_AS_OF, PRICES_CSV

STORE_NAME = "tft"


@dataclass
class TrainConfig:
    """Everything a training run depends on; the defaults are the production model."""

    prices_csv: Path = PRICES_CSV
    symbols: tuple[str, ...] | None = None
    """None: every symbol in the CSV."""
    train_end: dt.date = dt.date(2021, 12, 31)
    valid_end: dt.date = dt.date.fromisoformat(DEMO_AS_OF)
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
    max_minutes: float = 4.0
    """Wall-clock cap on fitting, so default training stays under 5 minutes on 2 cores."""
    loader_workers: int = 1
    """Processes building batches (pytorch-forecasting assembles samples in Python)."""
    limit_train_batches: int | float = 50
    """Batches per epoch (shuffled): short epochs let early stopping look often."""
    seed: int = 42
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


def _session_index(frame: pd.DataFrame, day: dt.date) -> int:
    """The last ``time_idx`` on or before ``day``."""
    return int(frame.loc[frame["date"] <= day, "time_idx"].max())


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
        return _fit(config)


def _fit(config: TrainConfig) -> Fitted:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar
    from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
    from pytorch_forecasting.metrics import QuantileLoss

    started = time.perf_counter()
    pl.seed_everything(config.seed, workers=True, verbose=False)
    prices = load_prices(config.prices_csv)
    if config.symbols is not None:
        prices = prices[prices["symbol"].isin(config.symbols)]
    frame = history_frame(prices)
    train_end = _session_index(frame, config.train_end)
    valid_end = _session_index(frame, config.valid_end)

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
    if config.progress:
        callbacks.append(RichProgressBar())
    gpu = torch.cuda.is_available()
    threads = torch.get_num_threads()
    if not gpu:
        # The TFT's operations are tiny: intra-op threads only add synchronisation (measured:
        # 10x slower per batch with 2 threads on a busy 2-core machine), so one thread computes
        # while the loader worker builds the next batches on the other core.
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            accelerator="gpu" if gpu else "cpu",
            devices=1,
            max_epochs=config.max_epochs,
            max_time=dt.timedelta(minutes=config.max_minutes),
            limit_train_batches=config.limit_train_batches,
            gradient_clip_val=0.1,
            callbacks=callbacks,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=config.progress,
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
    predictor = TFTPredictor(model, _config_json(fitted, version="unsaved"), "cpu")
    fitted.metrics = {
        "validation": next_close_metrics(
            predictor, prices, after=config.train_end, until=config.valid_end
        ),
        "test": next_close_metrics(
            predictor, prices, after=config.valid_end, until=config.test_end
        ),
    }
    return fitted


def _config_json(fitted: Fitted, version: str) -> dict[str, Any]:
    return {
        "version": version,
        "quantiles": list(QUANTILES),
        "hparams": network_hparams(fitted.model),
        "dataset": dataset_spec(fitted.dataset),
    }


def save_model(fitted: Fitted, directory: Path) -> Path:
    """Write ``weights.safetensors`` and ``config.json`` (no pickle) into ``directory``."""
    from safetensors.torch import save_model as save_weights

    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    save_weights(fitted.model, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
    version = f"tft-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{digest}"
    config = _config_json(fitted, version)
    config["training"] = training_metadata(fitted)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1, default=str))
    # check the files load back before anyone relies on them
    build_network(config["hparams"], config["quantiles"], config["dataset"]["target_normalizer"])
    return directory


def training_metadata(fitted: Fitted) -> dict[str, Any]:
    """What the store records about a model: data range, split, metrics, effort."""
    prices = fitted.prices
    config = fitted.config
    return {
        "data_file": Path(config.prices_csv).name,
        "symbols": sorted(prices["symbol"].unique().tolist()),
        "data_start": str(prices["date"].min()),
        "data_end": str(prices["date"].max()),
        "train_end": str(config.train_end),
        "valid_end": str(config.valid_end),
        "horizon_days": HORIZON,
        "quantiles": list(QUANTILES),
        "epochs": fitted.epochs,
        "train_seconds": round(fitted.seconds, 1),
        "seed": config.seed,
        "validation": fitted.metrics.get("validation", {}),
        "test": fitted.metrics.get("test", {}),
    }


def persist(fitted: Fitted) -> Path:
    """Save a fitted model: into the store as ``tft:<version>`` (returning the entry's folder)
    and/or into ``config.out`` (returned when not stored)."""
    from models import store

    config = fitted.config
    if not config.store and config.out is None:
        raise ValueError("out: needed when the model is not stored")
    with tempfile.TemporaryDirectory() as tmp:
        directory = save_model(fitted, Path(config.out) if config.out else Path(tmp) / "tft")
        if not config.store:
            return directory
        metadata = training_metadata(fitted)
        metadata["version"] = json.loads((directory / CONFIG_FILE).read_text())["version"]
        tag = store.save(STORE_NAME, directory, metadata=_flat_metadata(metadata))
    print(f"saved {tag}")
    return store.path_of(tag)


def train(config: TrainConfig) -> Path:
    """Fit, print the validation metrics, and persist; return the model directory."""
    if not config.store and config.out is None:
        raise ValueError("out: needed when the model is not stored")
    fitted = fit(config)
    print_metrics(fitted.metrics)
    print(f"trained {fitted.epochs} epochs in {fitted.seconds:.0f} s")
    return persist(fitted)


def _flat_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """BentoML metadata values must be simple; nested dicts of numbers and lists are."""
    return json.loads(json.dumps(metadata, default=str))


def print_metrics(metrics: dict[str, dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="TFT next-close metrics")
    table.add_column("metric")
    for period in metrics:
        table.add_column(period, justify="right")
    names = list(next(iter(metrics.values())).keys())
    for name in names:
        table.add_row(name, *(f"{metrics[p].get(name, float('nan')):.4g}" for p in metrics))
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.tft.train", description=__doc__)
    parser.add_argument("--if-missing", action="store_true", help="do nothing if tft is stored")
    parser.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs)
    parser.add_argument("--max-minutes", type=float, default=TrainConfig.max_minutes)
    parser.add_argument("--hidden-size", type=int, default=TrainConfig.hidden_size)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--out", type=Path, default=None, help="also write the files here")
    parser.add_argument("--no-store", action="store_true", help="only write --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.max_epochs < 1 or args.max_minutes <= 0 or args.hidden_size < 4:
        print("error: --max-epochs >= 1, --max-minutes > 0, --hidden-size >= 4", file=sys.stderr)
        return 2
    if args.no_store and args.out is None:
        print("error: --no-store needs --out", file=sys.stderr)
        return 2

    from models import store

    if args.if_missing and store.exists(STORE_NAME):
        print(f"{STORE_NAME} is already in the store; nothing to do")
        return 0
    config = replace(
        TrainConfig(),
        max_epochs=args.max_epochs,
        max_minutes=args.max_minutes,
        hidden_size=args.hidden_size,
        seed=args.seed,
        out=args.out,
        store=not args.no_store,
        progress=not args.quiet,
    )
    train(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
