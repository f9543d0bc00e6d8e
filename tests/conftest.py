"""Shared test set-up: offline, and a private BentoML store so tests never touch a user's one."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before anything imports bentoml or transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="premarket-bentoml-")
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
os.environ.setdefault("PREMARKET_CONFIG", os.path.join(tempfile.mkdtemp(), "absent.toml"))


# --- Model services (serving/): tiny models and real `bentoml serve` processes ---------------


def _tiny_nhits() -> str:
    from models.nhits.train import TrainConfig, save_to_store, train

    config = TrainConfig(
        max_steps=5, hidden=16, windows_batch_size=64, symbols=("AAPL", "MSFT"), progress=False
    )
    return save_to_store(train(config))


def _tiny_tft() -> str:
    from models.tft.train import TrainConfig, train

    config = TrainConfig(
        symbols=("AAPL", "MSFT"),
        max_epochs=1,
        limit_train_batches=2,
        hidden_size=8,
        attention_head_size=1,
        hidden_continuous_size=4,
        progress=False,
    )
    return f"tft:{train(config).name}"


def _tiny_sentiment() -> str:
    from models.sentiment.train import TrainConfig, train

    config = TrainConfig(train_limit=32, valid_limit=16, epochs=1.0, threads=1, progress=False)
    return f"sentiment:{train(config).name}"


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, str]:
    """Tiny nhits, tft and sentiment models trained into this session's BentoML store with each
    package's ``train(config)`` (seconds each); maps ``nhits``/``tft``/``sentiment`` to its tag."""
    return {"nhits": _tiny_nhits(), "tft": _tiny_tft(), "sentiment": _tiny_sentiment()}


@pytest.fixture(scope="session")
def services(tiny_models, tmp_path_factory):
    """The three services as real ``bentoml serve`` processes on free loopback ports, serving
    ``tiny_models`` (pinned by tag). Yields a ``serving.launch.ServiceGroup``: ``.urls[name]``
    is a base URL; ``with services.stopped("tft"): ...`` runs a block with one service down and
    brings it back ready afterwards."""
    from serving.launch import SERVICES, ServiceGroup, free_port

    env = dict(os.environ)
    env.update({f"PREMARKET_{name.upper()}_TAG": tag for name, tag in tiny_models.items()})
    group = ServiceGroup(
        {name: free_port() for name in SERVICES},
        env=env,
        log_dir=tmp_path_factory.mktemp("service-logs"),
    )
    with group:
        yield group
