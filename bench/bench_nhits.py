"""N-HITS backup: the numpy forward pass against ``NeuralForecast.predict``, same model, same run.

Both sides run the production architecture (``TrainConfig`` defaults): the library network is
fitted for one step, then given the stored production weights when the BentoML store has
``nhits`` (``make bench`` trains it first). Either way both sides hold identical weights, so the
parity entry is their agreement. Windows are real 30-day windows (late 2023) of every symbol.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench import p50_ms
from models import store
from models.nhits.export import export_nhits
from models.nhits.inference import NHitsForecaster
from models.nhits.train import STORE_NAME, TrainConfig, fit
from models.nhits.train_data import load_series, sliding_windows

BATCH = 500


def _frame(windows: np.ndarray) -> pd.DataFrame:
    """Each window as its own series, so the library predicts exactly the windows we do."""
    n, length = windows.shape
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n), length),
            "ds": np.tile(np.arange(length), n),
            "y": windows.ravel(),
        }
    )


def _models(config: TrainConfig, series) -> tuple[object, NHitsForecaster, str]:
    """The library model and ours with identical weights, and which weights those are."""
    nf = fit(config, series)
    if store.exists(STORE_NAME):
        directory = store.path_of(STORE_NAME)
        ours = NHitsForecaster.load(directory)
        if (ours.input_size, ours.horizon) == (config.input_size, config.horizon):
            import torch

            with np.load(directory / "weights.npz", allow_pickle=False) as archive:
                state = {  # block0.layer1.weight -> blocks.0.layers.1.weight
                    name.replace("block", "blocks.", 1).replace(".layer", ".layers.", 1): (
                        torch.from_numpy(archive[name])
                    )
                    for name in archive.files
                }
            nf.models[0].load_state_dict(state, strict=True)
            return nf, ours, f"stored {ours.version}"
    with tempfile.TemporaryDirectory() as tmp:
        return nf, NHitsForecaster.load(export_nhits(nf, Path(tmp))), "one-step fit (none stored)"


def run() -> dict:
    config = TrainConfig(max_steps=1, progress=False)
    series = load_series(config.symbols)
    nf, ours, weights = _models(config, series)
    windows = np.concatenate(
        [
            sliding_windows(s.closes, config.input_size, config.horizon, len(s.closes) - 60)[0]
            for s in series
        ]
    )[:BATCH]
    single, batch = windows[:1], windows
    single_frame, batch_frame = _frame(single), _frame(batch)
    library = nf.predict(df=batch_frame).sort_values(["unique_id", "ds"])["NHITS"].to_numpy()
    error = np.max(np.abs(ours.predict(batch).ravel() - library) / np.abs(library))
    model = f"N-HITS {config.hidden}x3 blocks, weights: {weights}"
    entries = {
        "nhits single window: numpy vs NeuralForecast.predict": {
            "ours": p50_ms(lambda: ours.predict(single), 300),
            "baseline": p50_ms(lambda: nf.predict(df=single_frame), 15),
            "unit": "ms (p50)",
            "target": "ours < 1 and ratio >= 20",
            "model": model,
        },
        f"nhits batch of {BATCH} windows: numpy vs NeuralForecast.predict": {
            "ours": p50_ms(lambda: ours.predict(batch), 30),
            "baseline": p50_ms(lambda: nf.predict(df=batch_frame), 5),
            "unit": "ms (p50)",
            "target": "ratio >= 20",
            "model": model,
        },
        f"nhits parity on {BATCH} real windows: max relative error vs NeuralForecast": {
            "ours": float(error),
            "unit": "relative error",
            "target": "<= 1e-4",
            "model": model,
        },
    }
    if ours.calibration is not None:  # the stored model: time the whole per-request answer
        entries["nhits forecast() of one window: path, confidence, quantiles"] = {
            "ours": p50_ms(lambda: ours.forecast([list(single[0])]), 300),
            "unit": "ms (p50)",
            "target": "< 1",
            "model": model,
        }
    return entries
