"""Issue 32.5: training prints its own progress and results, not Lightning's start-up lines,
its adverts or library warnings about the libraries (filtered where raised, during the fit)."""

from __future__ import annotations

import logging

import pytest

NOISE = ("Tip:", "GPU available", "TPU available", "LeafSpec", "removed from hparams", "Seed set")

pytestmark = pytest.mark.slow


def test_tiny_trainings_print_none_of_lightnings_noise(capfd):
    from models.nhits import train as nhits
    from models.tft import train as tft

    config = nhits.TrainConfig(max_steps=3, hidden=8, windows_batch_size=32, symbols=("AAPL",))
    nhits.fit(config, nhits.load_series(config.symbols, config.prices_csv))
    tft.fit(
        tft.TrainConfig(
            symbols=("AAPL",),
            max_epochs=1,
            limit_train_batches=1,
            hidden_size=8,
            attention_head_size=1,
            hidden_continuous_size=4,
            progress=False,
        )
    )
    printed = "".join(capfd.readouterr())
    assert not [noise for noise in NOISE if noise in printed], printed[-2000:]
    assert logging.getLogger("lightning.pytorch").level == logging.INFO  # put back afterwards
