"""``bentoml build`` of the project: code, the three stored models and the CUDA image, and a
service served from the exported Bento the way the container runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from serving.client import post
from serving.image import CUDA_BASE_IMAGE
from serving.launch import ROOT, ServiceProcess, free_port
from serving.samples import forecast_body

pytestmark = pytest.mark.slow


def bentoml_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def bento(tiny_models, tmp_path_factory) -> Path:
    """The built Bento, exported and unpacked as ``bentoml containerize`` lays it out."""
    tag = bentoml_cli("build", ".", "--output", "tag").strip().splitlines()[-1]
    tag = tag.removeprefix("__tag__:")
    assert tag.startswith("premarket:")
    out = tmp_path_factory.mktemp("bento")
    bentoml_cli("export", tag, str(out / "premarket.tar"))
    with tarfile.open(out / "premarket.tar") as archive:
        archive.extractall(out / "bento", filter="data")
    return out / "bento"


def test_the_bento_holds_the_code_and_all_three_models(bento):
    for path in (
        "src/serving/tft_service.py",
        "src/serving/nhits_service.py",
        "src/serving/sentiment_service.py",
        "src/models/tft/predictor.py",
        "src/premarket/protocol/__init__.py",
        "src/premarket/data/prices/us_largecap_daily_2015_2023.csv",
    ):
        assert (bento / path).is_file(), path
    assert not list(bento.glob("src/tests"))
    for name in ("tft", "nhits", "sentiment"):
        assert (bento / "models" / name / "latest").is_file(), name


def test_the_bento_holds_the_orchestrator_cli_for_the_cronjobs(bento, tmp_path):
    """``premarket crontab --kubernetes`` runs ``python -m orchestrator.cli.main`` in this image,
    from its ``src``: the code and the orchestrator's own dependencies must be in it."""
    requirements = (bento / "env/python/requirements.txt").read_text()
    for name in ("sqlalchemy", "alembic", "pydantic-settings", "rich", "exchange-calendars"):
        assert name in requirements, name
    src = bento / "src"
    assert (src / "orchestrator/cli/main.py").is_file()
    env = {
        **os.environ,
        "PYTHONPATH": str(src),  # the Bento's copy, not the checkout
        "PREMARKET_CONFIG": "",
        "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PREMARKET_STATE_DIR": str(tmp_path / "state"),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import orchestrator, sys; print(orchestrator.__file__)"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip().startswith(str(src)), result.stdout + result.stderr
    # A whole offline run from the packed code and data (the services are not needed: the
    # statistical tier answers), as a CronJob's run would be.
    dead = {f"PREMARKET_{n}__URL": "http://127.0.0.1:9" for n in ("TFT", "NHITS", "SENTIMENT")}
    args = ["analyze", "--offline", "--as-of", "2022-09-20", "--symbols", "MSFT"]
    run = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        cwd=src,
        env={**env, **dead},
        capture_output=True,
        text=True,
        timeout=300,
    )
    # exit 4: degraded (both model services are down here), and the run went through
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    assert "MSFT" in run.stdout and "Statistical" in run.stdout and "±" in run.stdout


def test_the_container_is_cuda_with_the_cuda_torch_build(bento):
    dockerfile = (bento / "env/docker/Dockerfile").read_text()
    assert f"FROM {CUDA_BASE_IMAGE} AS base-container" in dockerfile
    assert "uv venv --python 3.11" in dockerfile
    assert "build-essential" not in dockerfile  # no compilers in the runtime image
    requirements = (bento / "env/python/requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cu128" in requirements
    assert "torch==2.13.0" in requirements
    assert "bentoml==1.4.39" in requirements


def test_a_service_runs_from_the_exported_bento(bento, tmp_path):
    # As in the container: the Bento's folder is the model store, its src the working dir.
    env = {**os.environ, "BENTOML_HOME": str(bento)}
    proc = ServiceProcess(
        "nhits", free_port(), env=env, log_dir=tmp_path, working_dir=bento / "src"
    )
    proc.start()
    try:
        proc.wait_ready(timeout=180)
        stored = (bento / "models/nhits/latest").read_text().strip()
        assert httpx.get(proc.url + "/describe").json()["model"]["tag"] == f"nhits:{stored}"
        answer = post(None, proc.url + "/predict", json=forecast_body()).json()
        assert answer["success"] is True
        assert answer["model_used"] == "N-HITS (Backup)"
    finally:
        proc.stop()
