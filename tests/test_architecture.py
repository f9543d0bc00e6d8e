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


def _layers_contract_on_a_copy(tmp_path: Path, injected: tuple[str, str] | None) -> str:
    """``lint-imports`` with the project's layers contract on a renamed copy of the
    orchestrator (renamed so the installed package cannot shadow it), with one import added."""
    import shutil
    import tomllib

    copy = tmp_path / "orch_copy"
    shutil.copytree(ROOT / "orchestrator", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.rglob("*.py"):
        path.write_text(path.read_text().replace("orchestrator.", "orch_copy."))
    if injected is not None:
        module, imported = injected
        target = copy / module  # an existing module, or a new one
        target.parent.mkdir(exist_ok=True)
        before = target.read_text() if target.exists() else '"""Added by the test."""\n'
        target.write_text(before + f"\nimport orch_copy.{imported}  # noqa\n")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers" and "containers" in c)
    listed = ", ".join(f'"{layer}"' for layer in layers["layers"])
    exhaustive = str(layers.get("exhaustive", False)).lower()
    (tmp_path / "contract.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["orch_copy"]\n\n'
        '[[tool.importlinter.contracts]]\nname = "layers"\ntype = "layers"\n'
        f'containers = ["orch_copy"]\nexhaustive = {exhaustive}\nlayers = [{listed}]\n'
    )
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", "contract.toml", "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


def test_the_layers_contract_refuses_upward_and_sibling_imports(tmp_path: Path) -> None:
    """The contract is not a formality: the same contract on a copy of the package is kept as
    it is, and broken by one import up a layer or across independent siblings, and by a new
    folder or flat module that is not a declared layer (which could otherwise import anything)."""
    assert "Contracts: 1 kept, 0 broken" in _layers_contract_on_a_copy(tmp_path / "as-is", None)
    for module, imported in (
        ("common/clock.py", "jobs.analysis"),  # a helper reaching up to the job
        ("forecast/chain.py", "storage.store"),  # the model clients writing to the store
        ("notify/alerts.py", "tracking.paper"),  # alerts touching the paper book
        ("data/market.py", "documents.run"),  # market data reaching for the run document
    ):
        out = _layers_contract_on_a_copy(tmp_path / module.replace("/", "_"), (module, imported))
        assert "Contracts: 0 kept, 1 broken" in out, (module, imported, out[-1500:])
        assert f"orch_copy.{module[:-3].replace('/', '.')} -> orch_copy.{imported}" in out
    for module in ("extra/__init__.py", "helpers.py"):
        out = _layers_contract_on_a_copy(tmp_path / module.replace("/", "_"), (module, "cli.main"))
        assert "Contracts: 0 kept, 1 broken" in out, (module, out[-1500:])
        assert f"orch_copy.{module.split('/')[0].removesuffix('.py')}" in out
