"""Under ``make serve``, a crashed service comes back and never takes the others down, and a
SIGKILLed launcher leaves no server serving (issue 33 H5)."""

from __future__ import annotations

import os
import signal

import httpx
import psutil
import pytest
from launching import START_DEADLINE_S, launcher_env, listening, ports_of, servers_of, wait_for

from serving.process import SERVICES, alive

pytestmark = [pytest.mark.slow, pytest.mark.scenario]

SERVING = "serving; stop with"


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _serving(proc, log) -> bool:
    """True while the launcher runs; a launcher that exited fails the test with its log."""
    if proc.poll() is not None:
        pytest.fail(f"the launcher exited ({proc.returncode}):\n{log.read_text()}")
    return True


@pytest.mark.timeout(900)
def test_a_killed_service_is_restarted_and_a_killed_launcher_leaves_nothing(tiny_models, tmp_path):
    from launching import spawn

    env = launcher_env(tmp_path)
    env.update({f"PREMARKET_SERVICE_{n.upper()}_TAG": t for n, t in tiny_models.items()})
    port = {name: int(env[spec.port_env]) for name, spec in SERVICES.items()}
    log = tmp_path / "serve.log"
    proc = spawn(env, False, log)
    root = psutil.Process(proc.pid)
    try:
        # The launcher's own start-up is over only once it says it serves: a service killed
        # before that is a failed start (the launcher exits), not a crash to restart.
        wait_for(
            lambda: _serving(proc, log) and SERVING in log.read_text(), START_DEADLINE_S, "serving"
        )
        assert all(_ready(p) for p in port.values()), log.read_text()
        (tft,) = [s for s in servers_of(root) if "TFTService" in " ".join(s.cmdline())]
        tft_tree = [tft, *tft.children(recursive=True)]
        nhits_up: list[bool] = []
        tft.send_signal(signal.SIGKILL)  # a crash of the server (its workers outlive it)
        wait_for(lambda: not alive(tft), 60, "the TFT server gone")
        wait_for(
            lambda: (
                _serving(proc, log)
                and (nhits_up.append(_ready(port["nhits"])) or "restarted (try" in log.read_text())
            ),
            START_DEADLINE_S,
            "the TFT restarted",
        )
        wait_for(lambda: _ready(port["tft"]), START_DEADLINE_S, "the TFT ready again")
        assert all(nhits_up) and proc.poll() is None, log.read_text()
        assert "tft stopped unexpectedly; restarting it in 1 s" in log.read_text()
        assert not any(alive(p) for p in tft_tree)  # the crashed server's workers were cleared
        recorded = [root, *root.children(recursive=True)]
        os.kill(proc.pid, signal.SIGKILL)  # the launcher itself: no clean-up of its own runs
        proc.wait()
        wait_for(lambda: not any(alive(p) for p in recorded), 120, "every server gone")
        wait_for(lambda: listening(ports_of(env)) == set(), 60, "every port free")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
