"""TFT primary: the batched predictor against ``TemporalFusionTransformer.predict()``, same run.

Both sides run the same network object (the stored ``tft`` model when the BentoML store has one,
which ``make bench`` trains first; otherwise a tiny model fitted here) on the same real
30-row windows of the bundled prices (the original callers' request size). The library side
is what serving a request with it costs: the features (shared code), a ``TimeSeriesDataSet``
built from the training dataset's parameters, and ``predict()``. Memory is measured in a
fresh process: resident memory after 10,000 single forecasts minus after a warm-up.
Torch runs one intra-op thread on both sides.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models import store
from models.tft.dataset import prediction_frame, training_dataset
from models.tft.evaluate import windows
from models.tft.features import history_frame, load_prices
from models.tft.persist import STORE_NAME, save_model
from models.tft.predictor import CONFIG_FILE, TFTPredictor
from models.tft.train import TrainConfig, fit
from premarket.data import PRICES_CSV

BATCH = 500
ROWS = 30
RSS_CALLS = 10_000


def _p50_ms(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and process-CPU milliseconds of ``call`` (CPU time shows what an
    idle core would take when the machine is shared)."""
    call()  # warm-up: lazy imports, first allocations
    wall, cpu = [], []
    for _ in range(repeats):
        began, began_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _timed(ours: Callable[[], object], library: Callable[[], object], repeats: int) -> dict:
    ours_ms, ours_cpu = _p50_ms(ours, repeats)
    library_ms, library_cpu = _p50_ms(library, max(3, repeats // 10))
    return {"ours": ours_ms, "baseline": library_ms, "ours_cpu_ms": ours_cpu,
            "baseline_cpu_ms": library_cpu}  # fmt: skip


def _requests(prices) -> list:
    """``BATCH`` real 30-row windows (10 symbols x 50 days of 2023), each named as its own
    symbol, as 500 different tickers would arrive."""
    pairs = [r for r, _ in windows(prices, dt.date(2023, 6, 30), None, ROWS, ROWS)]
    step = max(1, len(pairs) // BATCH)
    return [(f"S{i:03d}", rows, dates) for i, (_, rows, dates) in enumerate(pairs[::step][:BATCH])]


def _models(tmp: Path):
    """(predictor, its model directory, the training dataset, a label of the weights)."""
    prices = load_prices(PRICES_CSV)
    if store.exists(STORE_NAME):
        directory = store.path_of(STORE_NAME)
        predictor = TFTPredictor.load(directory, device="cpu")
        training = json.loads((directory / CONFIG_FILE).read_text())["training"]
        frame = history_frame(prices[prices["symbol"].isin(training["symbols"])])
        end = int(frame.loc[frame["date"] <= dt.date.fromisoformat(training["train_end"]),
                            "time_idx"].max())  # fmt: skip
        dataset = training_dataset(frame, train_end_idx=end)
        return predictor, directory, dataset, f"stored {predictor.version}"
    fitted = fit(TrainConfig(max_epochs=1, limit_train_batches=5, progress=False, store=False))
    directory = save_model(fitted, tmp / "tft")
    return TFTPredictor.load(directory, device="cpu"), directory, fitted.dataset, "tiny fit"


def _library_predict(network, dataset, requests, max_rows: int) -> np.ndarray:
    from pytorch_forecasting import TimeSeriesDataSet

    data = TimeSeriesDataSet.from_dataset(
        dataset, prediction_frame(requests, max_rows=max_rows), predict=True
    )
    out = network.predict(
        data,
        mode="quantiles",
        batch_size=len(requests),
        trainer_kwargs={"logger": False, "enable_progress_bar": False},
    )
    return out.numpy()


def rss_growth_mb(directory: Path, calls: int) -> float:
    """Resident memory growth over ``calls`` single forecasts after 200 warm-up calls."""
    import torch

    torch.set_num_threads(1)
    predictor = TFTPredictor.load(directory, device="cpu")
    request = _requests(load_prices(PRICES_CSV))[0]

    def rss() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    for _ in range(200):
        predictor.forecast([request])
    before = rss()
    for _ in range(calls):
        predictor.forecast([request])
    return rss() - before


def run() -> dict:
    import torch

    # One intra-op thread on both sides: the TFT's operations are tiny, and extra threads
    # only add synchronisation (badly so on a shared machine).
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor, directory, dataset, weights = _models(Path(tmp))
        requests = _requests(load_prices(PRICES_CSV))
        single = requests[:1]
        network, rows = predictor.network, predictor.max_rows
        parity = np.max(
            np.abs(predictor.quantile_returns(requests) - _library_predict(network, dataset, requests, rows))
        )  # fmt: skip
        model = f"TFT hidden {network.hparams.hidden_size}, encoder <= {predictor.max_encoder_length}, {weights}"
        entries = {
            "tft single series (30 rows): predictor vs predict()": {
                **_timed(
                    lambda: predictor.forecast(single),
                    lambda: _library_predict(network, dataset, single, rows),
                    150,
                ),
                "unit": "ms (p50)",
                "target": "ratio >= 10",
                "model": model,
            },
            f"tft batch of {BATCH} symbols (30 rows each): predictor vs predict()": {
                **_timed(
                    lambda: predictor.forecast(requests),
                    lambda: _library_predict(network, dataset, requests, rows),
                    15,
                ),
                "unit": "ms (p50)",
                "target": "ours < 100",
                "model": model,
            },
            f"tft parity on {BATCH} real windows: max abs quantile difference vs predict()": {
                "ours": float(parity),
                "unit": "log return",
                "target": "<= 1e-5",
                "model": model,
            },
        }
        child = subprocess.run(
            [sys.executable, "-m", "bench.bench_tft", "--rss", str(directory), str(RSS_CALLS)],
            capture_output=True,
            text=True,
            check=True,
        )
        entries[f"tft resident memory growth over {RSS_CALLS:,} single forecasts"] = {
            "ours": float(child.stdout.strip().splitlines()[-1]),
            "unit": "MB",
            "target": "< 50",
            "model": model,
        }
    return entries


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--rss":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(f"{rss_growth_mb(Path(sys.argv[2]), int(sys.argv[3])):.3f}")
    else:
        print(json.dumps(run(), indent=1))
