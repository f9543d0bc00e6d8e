"""Running the real launcher in tests: spawn it, wait for a stage of its start-up, and look
at the processes and ports it leaves (``test_launch_stop``, ``test_launch_demo``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from serving.launch import free_port
from serving.process import KILL_WAIT_S, ROOT, SERVICES, STOP_GRACE_S

STOP_DEADLINE_S = STOP_GRACE_S + KILL_WAIT_S + 10.0
"""The launcher's stated stop time plus room for its own exit on a loaded machine."""
START_DEADLINE_S = 300.0


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {timeout:.0f} s")
        time.sleep(0.1)


def listening(ports: set[int]) -> set[int]:
    return {
        conn.laddr.port
        for conn in psutil.net_connections("tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports
    }


def servers_of(root: psutil.Process) -> list[psutil.Process]:
    """The ``bentoml serve`` processes under ``root``."""
    found = []
    for process in root.children(recursive=True):
        try:
            if "serve" in process.cmdline() and "bentoml" in process.cmdline():
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def launcher_env(tmp_path: Path) -> dict[str, str]:
    """The launcher's environment: free ports and a valid (empty) configuration file."""
    env = dict(os.environ)
    env.update({spec.port_env: str(free_port()) for spec in SERVICES.values()})
    config = tmp_path / "premarket.toml"
    config.write_text("")
    env["PREMARKET_CONFIG"] = str(config)
    return env


def ports_of(env: dict[str, str]) -> set[int]:
    return {int(env[spec.port_env]) for spec in SERVICES.values()}


def spawn(
    env: dict[str, str],
    through_make: bool,
    log: Path,
    *extra: str,
    hangup: signal.Handlers = signal.SIG_DFL,
) -> subprocess.Popen:
    """The launcher in a session of its own, through ``make serve`` (``-o models``: the tiny
    models are already in the store) or directly, started with ``hangup`` for SIGHUP."""
    if through_make:
        command = ["make", "--no-print-directory", "-o", "models", f"VENV={sys.prefix}", "serve"]
    else:
        command = [sys.executable, "-m", "serving.launch", *extra]
    # The launcher keeps a SIGHUP ignored from its start (nohup): the test run's must not pass.
    hangup = signal.signal(signal.SIGHUP, hangup)
    try:
        with log.open("wb") as out:
            return subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    finally:
        signal.signal(signal.SIGHUP, hangup)


def reach(stage: str, root: psutil.Process, log: Path) -> None:
    """Wait until the launcher under ``root`` reaches ``stage`` of its start-up."""
    if stage == "spawned":
        wait_for(lambda: len(servers_of(root)) == 3, START_DEADLINE_S, "3 servers spawned")
    elif stage == "workers":

        def workers_spawned() -> bool:
            servers = servers_of(root)
            return len(servers) == 3 and all(server.children() for server in servers)

        wait_for(workers_spawned, START_DEADLINE_S, "a worker under each server")
    else:
        wait_for(lambda: b"serving;" in log.read_bytes(), START_DEADLINE_S, "ready")


def stop_lines(log: Path) -> list[str]:
    """The launcher's lines about stopping (``make`` may add its own after them)."""
    return [line for line in log.read_text(errors="replace").splitlines() if "stopped" in line]
