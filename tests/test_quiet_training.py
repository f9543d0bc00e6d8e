"""Issue 32.5: training prints its own progress and results, one line per validation, not
Lightning's start-up lines, its adverts, library warnings about the libraries or a progress
bar that repeats them. Run as a user runs it: the training commands in a fresh process (a
process that had imported Lightning before would hide its import-time logger settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOISE = (
    "Tip:", "GPU available", "TPU available", "LeafSpec", "removed from hparams", "Seed set",
    "Epoch ", "/-2", "Trainer.fit` stopped",
)  # fmt: skip

pytestmark = pytest.mark.slow


def _train(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "store")}
    done = subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("command", "progress"),
    [
        (("models.nhits.train", "--symbols", "AAPL", "--max-steps", "50", "--hidden", "8"), "step 25/50: valid_loss"),
        (("models.tft.train", "--symbols", "AAPL", "--max-epochs", "1", "--batches-per-epoch", "5", "--no-store"), "epoch 0: val_loss"),
    ],
)  # fmt: skip
def test_training_prints_its_progress_and_none_of_lightnings_noise(tmp_path, command, progress):
    extra = ("--out", str(tmp_path / "out")) if "--no-store" in command else ()
    printed = _train(tmp_path, *command, *extra)
    assert progress in printed, printed[-2000:]
    assert not [noise for noise in NOISE if noise in printed], printed[-2000:]
