"""The Bento's package pins repeat pyproject.toml's by hand: keep them from drifting apart."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", requirement.strip()).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_bentofile_pins_match_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = dict(
        _split(r)
        for r in project["dependencies"]
        + project["optional-dependencies"]["models"]
        + project["optional-dependencies"]["serving"]
        if not r.startswith("premarket")
    )
    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text())["python"]["packages"]
    assert bento, "bentofile.yaml lists no packages"
    for requirement in bento:
        name, spec = _split(requirement)
        assert name in declared, f"{name} is in bentofile.yaml but not in pyproject.toml"
        assert spec == declared[name], f"{name}: bentofile {spec!r} != pyproject {declared[name]!r}"
