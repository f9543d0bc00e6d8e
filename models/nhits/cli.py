"""``python -m models.nhits.train``: train the N-HITS backup on the bundled prices or on your
own universe (``--prices CSV --symbols ...``), report validation and held-out test metrics next
to the naive last close, and store a new ``nhits:<version>``. The services serve it when
``PREMARKET_SERVICE_NHITS_TAG`` names that tag (or, left unset, as the latest ``nhits``). The symbols
must share one trading calendar (the split is by session index).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from models import store
from models.nhits.export import read_config
from models.nhits.train import STORE_NAME, TrainConfig, save_to_store, train
from models.train_args import add_universe_arguments, symbols_of
from premarket.data import PRICES_CSV, SYMBOLS
from premarket.prices import PriceFileError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.nhits.train", description=__doc__)
    parser.add_argument("--if-missing", action="store_true", help="do nothing if stored")
    add_universe_arguments(parser)
    parser.add_argument("--max-steps", type=_positive, default=TrainConfig.max_steps)
    parser.add_argument("--input-size", type=_positive, default=TrainConfig.input_size)
    parser.add_argument("--horizon", type=_positive, default=TrainConfig.horizon)
    parser.add_argument("--hidden", type=_positive, default=TrainConfig.hidden)
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (default)")
    parser.add_argument("--out", type=Path, help="also keep the export in this directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from rich.console import Console

    console = Console()
    if args.if_missing and store.exists(STORE_NAME):
        console.print(f"{STORE_NAME}: already in the model store, not retrained")
        return 0
    if args.input_size < 2:
        parser.error("--input-size: must be at least 2")
    symbols = symbols_of(args.symbols)
    if symbols is None and args.prices == PRICES_CSV:
        symbols = SYMBOLS
    with tempfile.TemporaryDirectory(prefix="nhits-") as scratch:
        config = TrainConfig(
            input_size=args.input_size,
            horizon=args.horizon,
            max_steps=args.max_steps,
            hidden=args.hidden,
            train_end=args.train_end,
            valid_end=args.valid_end,
            prices_csv=args.prices,
            symbols=symbols,
            accelerator=args.accelerator,
            progress=not args.quiet,
            out_dir=args.out or Path(scratch),
        )
        console.print(
            f"Training N-HITS (up to {config.max_steps} steps) on "
            f"{len(symbols) if symbols else 'every'} symbol(s) of {args.prices.name}: "
            f"fit to {config.train_end}, validate to {config.valid_end}, test after"
        )
        try:
            out = train(config)
        except (PriceFileError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        tag = save_to_store(out)
        exported = read_config(out)
    training = exported["training"]
    console.print(
        f"saved {tag} ({exported['version']})" + (f", exported to {out}" if args.out else "")
    )
    console.print(
        f"  trained in {training['train_seconds']} s ({training['train_cpu_seconds']} s CPU), "
        f"best validation at step {training['best_step']} of {training['stopped_step']}"
    )
    for period in ("validation", "test"):
        m = exported[period]
        console.print(
            f"  {period} {training[period + '_range']}: next-day MAE {m['mae_next_day']:.3f} "
            f"(naive {m['naive_mae_next_day']:.3f}), MAPE {m['mape_percent']:.2f}% "
            f"(naive {m['naive_mape_percent']:.2f}%), direction hit rate "
            f"{m['direction_hit_rate']:.3f} (up-day share {m['up_day_share']:.3f}), "
            f"p10-p90 coverage {m.get('p10_p90_coverage', float('nan')):.3f}"
        )
    return 0
