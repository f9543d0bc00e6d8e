"""``python -m models.tft.train``: train the TFT on the bundled prices or on your own universe.

    python -m models.tft.train --prices my_prices.csv --symbols AAPL MSFT ... \
        --train-end 2021-12-31 --valid-end 2022-09-20

fits on sessions up to ``--train-end``, early-stops on the sessions up to ``--valid-end``,
reports next-close metrics on both periods and on the held-out sessions after it, and stores a
new ``tft:<version>``. The services serve it when ``PREMARKET_SERVICE_TFT_TAG`` names that tag (or, left
unset, as the latest ``tft``). A GPU is used when torch sees one (Lightning's
``accelerator="auto"``); ``--devices 4 --strategy ddp`` trains on four GPUs data-parallel.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from models.tft.persist import STORE_NAME
from models.tft.train import TrainConfig, train
from models.train_args import add_universe_arguments, symbols_of
from premarket.prices import PriceFileError


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


def _devices(text: str) -> int | str:
    return text if text == "auto" else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.tft.train", description=__doc__)
    parser.add_argument("--if-missing", action="store_true", help="do nothing if tft is stored")
    add_universe_arguments(parser)
    parser.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs)
    parser.add_argument("--hidden-size", type=int, default=TrainConfig.hidden_size)
    parser.add_argument("--batches-per-epoch", type=int, default=TrainConfig.limit_train_batches)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (default)")
    parser.add_argument("--devices", type=_devices, default=1, help="devices, or auto")
    parser.add_argument("--strategy", default="auto", help="e.g. ddp for several GPUs")
    parser.add_argument("--out", type=Path, default=None, help="also write the files here")
    parser.add_argument("--no-store", action="store_true", help="only write --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.max_epochs < 1 or args.hidden_size < 4:
        print("error: --max-epochs >= 1, --hidden-size >= 4", file=sys.stderr)
        return 2
    if args.batches_per_epoch < 1:
        print("error: --batches-per-epoch must be >= 1", file=sys.stderr)
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
        prices_csv=args.prices,
        symbols=symbols_of(args.symbols),
        train_end=args.train_end,
        valid_end=args.valid_end,
        max_epochs=args.max_epochs,
        hidden_size=args.hidden_size,
        limit_train_batches=args.batches_per_epoch,
        seed=args.seed,
        accelerator=args.accelerator,
        devices=args.devices,
        strategy=args.strategy,
        out=args.out,
        store=not args.no_store,
        progress=not args.quiet,
    )
    try:
        train(config)
    except (PriceFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
