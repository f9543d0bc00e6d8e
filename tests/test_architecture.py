"""The layout is enforced, not just described: import-linter's contracts and module size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 300


def test_import_contracts_are_kept() -> None:
    """The orchestrator's layers, its thin-client rule and the package direction (pyproject)."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "KEPT" in done.stdout


def test_no_flat_orchestrator_and_no_long_module() -> None:
    package = ROOT / "orchestrator"
    flat = sorted(p.name for p in package.glob("*.py") if p.name != "__init__.py")
    assert flat == [], f"modules outside a layer folder: {flat}"
    layers = [p for p in package.iterdir() if p.is_dir() and not p.name.startswith("__")]
    for layer in layers:
        doc = (layer / "__init__.py").read_text()
        assert doc.startswith('"""'), f"{layer.name}/__init__.py has no docstring"
    long = {
        str(p.relative_to(ROOT)): n
        for p in package.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"
