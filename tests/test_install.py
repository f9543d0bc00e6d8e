"""A thin install: `pip install .` without extras gives a working CLI and no torch, and the
schema migrations ship in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.scenario
def test_base_install_has_cli_and_no_heavy_stack(tmp_path: Path) -> None:
    source = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(source)], check=True, timeout=600
    )

    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout.lower()
    for heavy in ("torch", "transformers", "bentoml", "neuralforecast", "pytorch-forecasting"):
        assert f"\n{heavy}==" not in f"\n{installed}", f"{heavy} was installed without extras"

    cli = subprocess.run(
        [str(env_dir / "bin" / "premarket"), "--help"], capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr
    assert "analyze" in cli.stdout

    data = subprocess.run(
        [
            str(python),
            "-c",
            "from premarket.data import PRICES_CSV; print(PRICES_CSV.stat().st_size)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert data.returncode == 0 and int(data.stdout) > 1_000_000, data.stderr

    db = subprocess.run(
        [str(env_dir / "bin" / "premarket"), "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'installed.db'}"},
    )
    assert db.returncode == 0 and "empty -> " in db.stdout, db.stderr
