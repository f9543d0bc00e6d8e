"""Training on your own universe: a price CSV and symbols through the public train commands,
a new store tag, and real ``bentoml serve`` processes that load it when the setting names it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import store
from models.nhits.cli import main as nhits_main
from models.tft.cli import main as tft_main
from serving.client import post

pytestmark = pytest.mark.slow

SPLIT = ["--train-end", "2020-12-31", "--valid-end", "2021-04-30"]


def universe_csv(path: Path, symbols: list[str], days: int = 400, seed: int = 7) -> Path:
    """Geometric random walks with consistent OHLC, one business day per row (with a BOM and
    the symbols in mixed case, as a spreadsheet export might write them)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=days).strftime("%Y-%m-%d")
    frames = []
    for i, symbol in enumerate(symbols):
        close = (20 + 30 * i) * np.exp(np.cumsum(rng.normal(0.0003, 0.015, days)))
        open_ = close * np.exp(rng.normal(0, 0.004, days))
        spread = np.abs(rng.normal(0, 0.006, days))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol.lower() if i % 2 else symbol,
                    "date": dates,
                    "open": open_,
                    "high": np.maximum(open_, close) * (1 + spread),
                    "low": np.minimum(open_, close) * (1 - spread),
                    "close": close,
                    "volume": rng.integers(1_000_000, 5_000_000, days),
                }
            )
        )
    path.write_text("\ufeff" + pd.concat(frames).to_csv(index=False))
    return path


def saved_tag(output: str, name: str) -> str:
    match = re.search(rf"saved ({name}:[a-z0-9]+)", output)
    assert match, output
    return match.group(1)


def test_train_on_a_csv_universe_and_serve_the_new_tag(tmp_path: Path, capsys) -> None:
    from serving.launch import ServiceProcess, free_port

    csv = universe_csv(tmp_path / "universe.csv", ["AAA", "BBB", "CCC"])
    common = ["--prices", str(csv), "--symbols", "AAA,bbb", "CCC", *SPLIT, "--quiet"]
    assert tft_main([*common, "--max-epochs", "1", "--batches-per-epoch", "2",
                     "--hidden-size", "8"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    tft_tag = saved_tag(out, "tft")
    assert "test" in out and "TFT next-close metrics" in out  # the held-out period is reported
    assert nhits_main([*common, "--max-steps", "5", "--hidden", "16"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    nhits_tag = saved_tag(out, "nhits")
    assert "test ['2021-05-03', '2021-07-13']" in out and "p10-p90 coverage" in out

    tft_meta = store.metadata_of(tft_tag)
    assert tft_meta["symbols"] == ["AAA", "BBB", "CCC"] and tft_meta["data_file"] == csv.name
    assert store.metadata_of(nhits_tag)["training"]["symbols"] == ["AAA", "BBB", "CCC"]

    env = {
        **os.environ,
        "PREMARKET_SERVICE_TFT_TAG": tft_tag,
        "PREMARKET_SERVICE_NHITS_TAG": nhits_tag,
    }
    frame = pd.read_csv(csv, encoding="utf-8-sig")
    rows = frame[frame["symbol"] == "AAA"][["open", "high", "low", "close", "volume"]]
    body = {"symbol": "AAA", "sequence_data": rows.tail(60).to_numpy().tolist()}
    tags = {"tft": tft_tag, "nhits": nhits_tag}
    procs = {name: ServiceProcess(name, free_port(), env=env, log_dir=tmp_path) for name in tags}
    answers = {}
    try:
        for proc in procs.values():  # both start at once
            proc.start()
        for name, proc in procs.items():
            proc.wait_ready(timeout=180)
            answers[name] = post(None, proc.url + "/predict", json=body, timeout=60).json()
    finally:
        for proc in procs.values():
            proc.stop()
    for name, tag in tags.items():
        assert answers[name]["success"] is True, answers[name]
        assert answers[name]["model_version"] == store.metadata_of(tag)["version"]


def test_bad_universe_arguments_are_one_line_errors(tmp_path: Path, capsys) -> None:
    csv = universe_csv(tmp_path / "universe.csv", ["AAA"], days=60)
    assert tft_main(["--prices", str(csv), "--symbols", "ZZZ", "--quiet"]) == 2
    assert "ZZZ: not in universe.csv" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(csv.read_text().replace(",2020-01-06,", ",06/01/2020,"))
    assert nhits_main(["--prices", str(bad), "--quiet"]) == 2
    assert "line 5: AAA: column date is not a date" in capsys.readouterr().err
    assert tft_main(["--prices", str(csv), "--valid-end", "2024-01-01", "--quiet"]) == 2
    assert "valid_end: 2024-01-01 leaves no test period" in capsys.readouterr().err
