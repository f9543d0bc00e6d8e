"""Fit the risk model on a daily OHLCV history and write its JSON.

    python -m models.risk.train                     # the bundled prices -> premarket/risk/risk_model.json
    python -m models.risk.train --prices my.csv --until 2022-01-01 --out risk.json

The model (:mod:`premarket.risk.model`) is fitted on every session of the file (before
``--until`` when given), since the live forecast comes after all of them; how the same recipe
does on sessions it has not seen is the backtest's walk forward (``premarket backtest``), which
refits it every 21 sessions on the past only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from premarket.data import PRICES_CSV
from premarket.prices import PriceFileError, read_prices
from premarket.risk.features import SymbolBars
from premarket.risk.model import BUNDLED, build_panel, fit_model


def load_universe(path: Path) -> list[SymbolBars]:
    """Every symbol of a price CSV, read by the project's one parser."""
    frames = read_prices(path).require(None)
    return [
        SymbolBars.from_arrays(
            symbol,
            frame["date"].to_numpy(dtype="datetime64[D]"),
            *(frame[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "volume")),
        )
        for symbol, frame in frames.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.risk.train", description=__doc__)
    parser.add_argument("--prices", type=Path, default=PRICES_CSV)
    parser.add_argument("--until", help="fit on target sessions before this date, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, default=BUNDLED)
    args = parser.parse_args(argv)
    try:
        universe = load_universe(args.prices)
        until = np.datetime64(args.until, "D") if args.until else None
        model = fit_model(build_panel(universe), until=until, version="", prices=args.prices.name)
    except (PriceFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The version names what makes the forecasts (coefficients, weights, quantiles, ratios).
    model = model.model_copy(update={"version": model.content_version})
    model.save(args.out)
    print(
        f"risk model {model.version}: {model.fit['rows']} sessions of "
        f"{len(model.fit['symbols'])} symbols ({model.fit['first_target']} .. "
        f"{model.fit['last_target']}) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
