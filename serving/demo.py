"""``make demo``'s one offline pre-market analysis against services that are already running.

The analysis is a child process (``premarket analyze``); whoever stops the launcher stops it
the way a server is stopped: SIGTERM, then SIGKILL after ``STOP_GRACE_S``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from serving.process import POLL_S, ROOT, STOP_GRACE_S


def analyze_command(output: Path) -> list[str]:
    """``premarket analyze`` from this interpreter's environment, writing ``output``."""
    from premarket.data import DEMO_AS_OF

    script = Path(sys.executable).with_name("premarket")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator.cli.main"]
    return [*program, "analyze", "--offline", "--as-of", DEMO_AS_OF, "--json", str(output)]


def run_demo(urls: Mapping[str, str], output: Path, stop_requested: Callable[[], bool]) -> int:
    """One offline analysis against the services at ``urls``; its exit status. It is ended
    (SIGTERM, then SIGKILL) as soon as ``stop_requested()``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for name, url in urls.items():
        env[f"PREMARKET_{name.upper()}__URL"] = url
    analysis = subprocess.Popen(analyze_command(output), cwd=ROOT, env=env)
    try:
        while analysis.poll() is None and not stop_requested():
            time.sleep(POLL_S)
    finally:
        if analysis.poll() is None:
            analysis.terminate()
            try:
                analysis.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                analysis.kill()
                analysis.wait()
    return analysis.returncode
