"""``make demo``'s steps against services that are already running: the demo morning, the
mornings before it, and the dashboard's screenshot, in the demo's own database.

Each step is a child process (``premarket ...``); whoever stops the launcher stops it the way a
server is stopped: SIGTERM, then SIGKILL after ``STOP_GRACE_S``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from serving.process import POLL_S, ROOT, STOP_GRACE_S

DEMO_MORNINGS = 20
"""Mornings the demo replays (the demo morning and the ones before it), so that its dashboard
shows accuracy, the paper book and the risk charts, not one morning alone."""


def _premarket() -> list[str]:
    """The ``premarket`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("premarket")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator.cli.main"]


def analyze_command(output: Path) -> list[str]:
    """``premarket analyze`` of the demo morning, writing ``output``."""
    from premarket.data import DEMO_AS_OF

    return [*_premarket(), "analyze", "--offline", "--as-of", DEMO_AS_OF, "--json", str(output)]


def demo_commands(output: Path) -> list[list[str]]:
    """The demo's steps, run in turn while the services are up: the demo morning (its table),
    the mornings before it (``premarket replay``: scored and traded on paper), and the
    dashboard's screenshot (so the page shows the services healthy)."""
    from premarket.data import DEMO_AS_OF

    folder = output.parent
    return [
        analyze_command(output),
        [*_premarket(), "replay", "--until", DEMO_AS_OF, "--mornings", str(DEMO_MORNINGS)],
        [*_premarket(), "dashboard", "--screenshot", str(folder / "dashboard.png")],
    ]


def demo_env(urls: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The services' URLs, and the demo's own database and state in ``folder`` (started afresh:
    the demo shows the demo, whatever ran before)."""
    database = folder / "premarket.db"
    database.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update({f"PREMARKET_{name.upper()}__URL": url for name, url in urls.items()})
    env["PREMARKET_DATABASE_URL"] = f"sqlite:///{database.resolve()}"
    env["PREMARKET_STATE_DIR"] = str((folder / "state").resolve())
    return env


def run_demo(urls: Mapping[str, str], output: Path, stop_requested: Callable[[], bool]) -> int:
    """The demo's steps against the services at ``urls``; the first non-zero exit status stops
    it and is returned. A step is ended (SIGTERM, then SIGKILL) as soon as ``stop_requested()``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    env = demo_env(urls, output.parent)
    for command in demo_commands(output):
        status = _run(command, env, stop_requested)
        if status != 0 or stop_requested():
            return status
    return 0


def _run(command: list[str], env: dict[str, str], stop_requested: Callable[[], bool]) -> int:
    step = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        while step.poll() is None and not stop_requested():
            time.sleep(POLL_S)
    finally:
        if step.poll() is None:
            step.terminate()
            try:
                step.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                step.kill()
                step.wait()
    return step.returncode
