"""Fit the decision model on the walk-forward rows and store it: ``decision:<version>``.

The rows come from the backtest, which owns the walk forward and the news matching::

    premarket backtest --start 2018-01-01 --end 2023-12-31 --news \\
        --decision-data decision_rows.csv --json backtest.json
    python -m models.decision.train --data decision_rows.csv --scores backtest.json \\
        --export orchestrator/signals/decision_model.json

The model (:mod:`premarket.decision`, plain numpy) is fitted on every row, since the live signal
comes after all of them; how well the same recipe does on data it has not seen is the
backtest's year-by-year walk forward, whose held-out scores (``--scores``) are kept in the
model's metadata. The JSON goes to the BentoML store like every other model, and ``--export``
writes the copy the orchestrator reads (bundled with the package).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from premarket.decision import FEATURES, L2, DecisionModel, Inputs, fit_model

NAME = "decision"
REQUIRED = ("tier", "target", "up", "move", "articles", *FEATURES)
INPUTS = ("sentiment_model", "news_window", "news_text")
"""Columns that say what the features were computed from: one value each in a fit."""


def load_rows(path: Path) -> pd.DataFrame:
    """The backtest's decision rows; a one-line error naming what is missing."""
    try:
        rows = pd.read_csv(path, parse_dates=["target"])
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: --data: cannot read {path} ({exc})") from None
    missing = [c for c in (*REQUIRED, *INPUTS) if c not in rows]
    if missing:
        raise SystemExit(f"error: --data: {path} lacks column(s) {', '.join(missing)}")
    if rows.empty:
        raise SystemExit(f"error: --data: {path} has no rows")
    mixed = [c for c in ("tier", *INPUTS) if rows[c].nunique(dropna=False) != 1]
    if mixed:
        raise SystemExit(f"error: --data: {path} mixes values of {', '.join(mixed)}")
    return rows


def inputs_of(rows: pd.DataFrame) -> Inputs:
    """What the rows' features were computed from (the fitted model records it)."""
    first = rows.iloc[0]
    return Inputs(
        price_tier=str(first["tier"]),
        sentiment_model=str(first["sentiment_model"]),
        news_window=first["news_window"],
        news_text=first["news_text"],
    )


def held_out_scores(path: Path | None) -> dict:
    """The backtest's held-out scores of the signal (the ``signal`` block), trimmed."""
    if path is None:
        return {}
    signal = json.loads(path.read_text()).get("signal")
    if not signal:
        raise SystemExit(f"error: --scores: {path} has no 'signal' block (run with --news)")
    keep = ("signal", "price_only", "news_only", "always_up", "original")
    return {
        subset: {k: block[k]["calibration"] for k in keep}
        for subset, block in signal["held_out"].items()
    }


def fit(rows: pd.DataFrame, *, scores: dict, version: str, l2: float = L2) -> DecisionModel:
    x = rows[list(FEATURES)].to_numpy(float)
    return fit_model(
        x,
        rows["up"].to_numpy(float),
        rows["move"].to_numpy(float),
        version=version,
        inputs=inputs_of(rows),
        l2=l2,
        fit_range=[
            rows["target"].min().date().isoformat(),
            rows["target"].max().date().isoformat(),
        ],
        rows_with_news=int((rows["articles"] > 0).sum()),
        held_out=scores,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.decision.train", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="rows from --decision-data")
    parser.add_argument("--scores", type=Path, help="the backtest JSON (held-out scores)")
    parser.add_argument("--export", type=Path, help="also write the JSON here")
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--no-store", action="store_true", help="do not save to the BentoML store")
    args = parser.parse_args(argv)
    rows = load_rows(args.data)
    version = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    model = fit(rows, scores=held_out_scores(args.scores), version=version, l2=args.l2)
    if not args.no_store:
        from models import store

        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "decision_model.json")
            metadata = {k: v for k, v in model.fit.items() if v is not None}
            metadata["inputs"] = model.inputs.model_dump()
            tag = store.save(NAME, Path(tmp), metadata=metadata)
        model = model.model_copy(update={"version": tag})
        print(f"saved {tag}", file=sys.stderr)
    if args.export:
        model.save(args.export)
        print(f"exported to {args.export}", file=sys.stderr)
    weights = ", ".join(f"{n} {w:+.4f}" for n, w in zip(FEATURES, model.coefficients, strict=True))
    p0 = float(model.probability_up(np.zeros((1, len(FEATURES))))[0])
    print(f"intercept {model.intercept:+.4f}, {weights}; P(up) with no edge and no news {p0:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
