"""Stopping the launcher stops every server and worker it started (issue 22), and it never
passes someone else's services off as its own.

Each cycle starts the real launcher (``make serve``, or ``python -m serving.launch`` directly)
with the tiny models on free ports, waits until a stage of start-up is reached, records every
process under it, sends one signal and checks that the launcher exits within its stated stop
time, says so in one line, and leaves no recorded process running and no port listening.
5 cycles per signal (SIGTERM, SIGINT, SIGHUP), 15 in all; the signal arrives at different
stages (servers just spawned, workers spawned, all ready), to the whole process group (as
``kill -- -group`` does, with ``make`` forwarding SIGTERM on top) or to the launcher alone.
Most cycles stop during start-up, so the 15 take 2-3 minutes on 2 cores at a load of 10-12.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from launching import (
    STOP_DEADLINE_S,
    launcher_env,
    listening,
    ports_of,
    reach,
    spawn,
    stop_lines,
)

from serving.process import ROOT, alive

CYCLES = [  # (stage the signal waits for, who gets it)
    ("spawned", "group"),
    ("workers", "launcher"),
    ("ready", "group"),
    ("spawned", "launcher"),
    ("spawned", "group"),
]


@pytest.fixture
def launch_env(tmp_path) -> dict[str, str]:
    return launcher_env(tmp_path)


@pytest.mark.timeout(900)
@pytest.mark.scenario
@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda sig: sig.name
)
def test_every_signal_stops_every_server_and_worker(sig, tiny_models, launch_env, tmp_path):
    launch_env.update(
        {f"PREMARKET_SERVICE_{name.upper()}_TAG": tag for name, tag in tiny_models.items()}
    )
    ports = ports_of(launch_env)
    for cycle, (stage, target) in enumerate(CYCLES):
        log = tmp_path / f"cycle-{cycle}.log"
        proc = spawn(launch_env, target == "group", log)
        root = psutil.Process(proc.pid)
        try:
            reach(stage, root, log)
            recorded = [root, *root.children(recursive=True)]
            launcher = next(p for p in recorded if "serving.launch" in " ".join(p.cmdline()))
            if target == "group":
                os.killpg(proc.pid, sig)
            else:
                launcher.send_signal(sig)
            proc.wait(STOP_DEADLINE_S)
        finally:
            if proc.poll() is None:  # a failing cycle must not leave its launcher behind
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        where = f"cycle {cycle} ({stage}, {target}, {sig.name})"
        assert [p.pid for p in recorded if alive(p)] == [], where
        assert listening(ports) == set(), where
        [line] = stop_lines(log)
        assert line.startswith("stopped tft, nhits, sentiment (") and f"on {sig.name}" in line, (
            where,
            line,
        )
        if target == "launcher" and proc.args[0] == sys.executable:
            assert proc.returncode == 128 + sig, where


def test_under_nohup_a_hangup_stays_ignored(launch_env, tmp_path):
    log = tmp_path / "nohup.log"
    proc = spawn(launch_env, False, log, hangup=signal.SIG_IGN)
    try:
        reach("spawned", psutil.Process(proc.pid), log)  # its handlers are in place by then
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        )
        ignored, caught = int(status["SigIgn"], 16), int(status["SigCgt"], 16)
        assert ignored >> (signal.SIGHUP - 1) & 1
        assert all(caught >> (sig - 1) & 1 for sig in (signal.SIGTERM, signal.SIGINT))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_DEADLINE_S) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert listening(ports_of(launch_env)) == set()


def launch(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m serving.launch`` run to its end (these cases end before any server starts)."""
    return subprocess.run(
        [sys.executable, "-m", "serving.launch"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_taken_port_fails_in_one_line_before_any_server_starts(launch_env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        launch_env["NHITS_PORT"] = str(taken.getsockname()[1])
        done = launch(launch_env)
    assert done.returncode == 1
    assert done.stdout == ""  # no "ready" for someone else's services
    assert done.stderr.count("\n") == 1 and "NHITS_PORT" in done.stderr, done.stderr
    assert f"port 127.0.0.1:{launch_env['NHITS_PORT']} is in use" in done.stderr


def test_two_services_on_one_port_fail_in_one_line(launch_env):
    launch_env["SENTIMENT_PORT"] = launch_env["TFT_PORT"]
    done = launch(launch_env)
    assert done.returncode == 2
    assert (
        done.stderr
        == f"error: SENTIMENT_PORT={launch_env['TFT_PORT']}: TFT_PORT is {launch_env['TFT_PORT']} too\n"
    )
