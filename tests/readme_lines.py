"""The README's command lines, as the tests that run them read them."""

from __future__ import annotations

import re
import shlex

from serving.launch import ROOT

README_IMAGE = "premarket:cpu"
README_PORT = re.compile(r"127\.0\.0\.1:(300[123]):3000")
SERVICE_OF_PORT = {"3001": "tft", "3002": "nhits", "3003": "sentiment"}


def readme_commands(program: str) -> list[list[str]]:
    """The README's ``program`` command lines (continuations joined), split into words."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.startswith(f"{program} ")]


def podman_runs() -> dict[str, list[str]]:
    """The README's three ``podman run`` lines, by the service each starts (its port)."""
    runs = {}
    for words in readme_commands("podman"):
        if words[1] == "run":
            port = next(m[1] for w in words if (m := README_PORT.fullmatch(w)))
            runs[SERVICE_OF_PORT[port]] = words
    assert len(runs) == 3, runs
    return runs
