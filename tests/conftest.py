"""Shared test set-up: offline, and a private BentoML store so tests never touch a user's one."""

from __future__ import annotations

import contextlib
import os
import tempfile

import pytest

# Set before anything imports bentoml or transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="premarket-bentoml-")
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
os.environ.setdefault("PREMARKET_CONFIG", "")  # empty: no premarket.toml is read


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

    # int8_tolerance=1: the build always keeps int8, so the services serve it as production does
    # on a CPU (PREMARKET_SERVICE_SENTIMENT_INT8=auto), whatever 32 tweets teach the tiny model.
    config = TrainConfig(
        train_limit=32, valid_limit=16, epochs=1.0, threads=1, progress=False, int8_tolerance=1.0,
        mlm_steps=0,
    )  # fmt: skip
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
    env.update({f"PREMARKET_SERVICE_{name.upper()}_TAG": tag for name, tag in tiny_models.items()})
    group = ServiceGroup(
        {name: free_port() for name in SERVICES},
        env=env,
        log_dir=tmp_path_factory.mktemp("service-logs"),
    )
    with group:
        yield group


# --- Databases: every store test runs on a SQLite file and on a real PostgreSQL server --------


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster for the session (see tests/postgres.py). Where none can
    start the tests that need it fail, unless PREMARKET_SKIP_POSTGRES=1 asks to skip them (the
    skip and its reason are listed in the summary)."""
    from postgres import PostgresUnavailable, start_cluster

    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(start_cluster())
        except PostgresUnavailable as exc:
            if os.environ.get("PREMARKET_SKIP_POSTGRES") == "1":
                pytest.skip(f"PostgreSQL tests skipped (PREMARKET_SKIP_POSTGRES=1): {exc}")
            pytest.fail(f"PostgreSQL is needed for these tests: {exc}", pytrace=False)
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A database at the current schema, empty: a new SQLite file, or a new database on the
    session's PostgreSQL cluster."""
    from orchestrator.storage.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'premarket.db'}"
    else:
        url = request.getfixturevalue("postgres_cluster").create_database()
    upgrade(url)
    return url


@pytest.fixture
def require_chromium() -> None:
    """Chromium for the browser tests: missing, they fail (``make test`` installs the Debian
    package), unless PREMARKET_SKIP_BROWSER=1 asks to skip them (listed in the summary)."""
    from orchestrator.api.browser import chromium_path

    if chromium_path() is not None:
        return
    if os.environ.get("PREMARKET_SKIP_BROWSER") == "1":
        pytest.skip("browser tests skipped (PREMARKET_SKIP_BROWSER=1): no Chromium")
    pytest.fail(
        "no Chromium (chromium on the PATH or PREMARKET_CHROMIUM): make test installs it; "
        "PREMARKET_SKIP_BROWSER=1 skips the browser tests",
        pytrace=False,
    )


@pytest.fixture
def restore_logging():
    """``premarket schedule`` run in-process configures logging process-wide (a root handler,
    quiet libraries): put it back for the other tests."""
    import logging

    from orchestrator.cli.schedule import QUIET

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIET}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
