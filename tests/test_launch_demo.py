"""``make demo`` (``serving.launch --run-demo``) stops every server, and the analysis, whether
the analysis ends normally, fails or is interrupted (issue 22)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import psutil
import pytest
from launching import (
    START_DEADLINE_S,
    STOP_DEADLINE_S,
    launcher_env,
    listening,
    ports_of,
    spawn,
    stop_lines,
    wait_for,
)

from serving.demo import DEMO_MORNINGS, analyze_command, run_demo
from serving.process import alive


@pytest.fixture
def demo_env(tiny_models, tmp_path) -> dict[str, str]:
    """The launcher's environment with the tiny models pinned by tag."""
    env = launcher_env(tmp_path)
    env.update({f"PREMARKET_SERVICE_{name.upper()}_TAG": tag for name, tag in tiny_models.items()})
    return env


@pytest.mark.scenario
@pytest.mark.usefixtures("require_chromium")
def test_the_demo_ends_with_every_server_stopped(demo_env, tmp_path):
    log = tmp_path / "demo.log"
    proc = spawn(demo_env, False, log, "--run-demo", "--output", str(tmp_path / "out"))
    root = psutil.Process(proc.pid)
    seen: set[psutil.Process] = set()

    def finished() -> bool:  # remember the tree while it grows, until the launcher exits
        if proc.poll() is None:
            seen.update(root.children(recursive=True))
        return proc.poll() is not None

    wait_for(finished, START_DEADLINE_S + 120, "finished")
    assert proc.returncode == 0, log.read_text()
    out = tmp_path / "out"
    assert json.loads((out / "analysis.json").read_text())["symbols_analyzed"]
    assert (out / "logs" / "tft.log").exists()
    # the mornings before it, replayed into the demo's own database, and the page's screenshot
    with sqlite3.connect(out / "premarket.db") as db:
        mornings = db.execute("select count(distinct business_date) from runs").fetchone()[0]
        modes = {m for (m,) in db.execute("select distinct mode from runs")}
        scores = db.execute("select count(*) from forecast_scores").fetchone()[0]
    assert mornings == DEMO_MORNINGS and modes == {"replay"} and scores > 0
    assert (out / "dashboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.pid for p in seen if alive(p)] == []
    assert listening(ports_of(demo_env)) == set()
    [line] = stop_lines(log)
    assert line.startswith("stopped tft, nhits, sentiment (") and line.endswith("after the demo")


def test_interrupting_the_demo_stops_the_analysis_and_every_server(demo_env, tmp_path):
    """Ctrl-C in a terminal: SIGINT to the launcher's whole process group, analysis included."""
    log = tmp_path / "demo.log"
    proc = spawn(demo_env, False, log, "--run-demo", "--output", str(tmp_path / "out"))
    root = psutil.Process(proc.pid)

    def analysing() -> bool:
        return any("analyze" in p.cmdline() for p in root.children() if alive(p))

    wait_for(analysing, START_DEADLINE_S, "analysing")
    recorded = [root, *root.children(recursive=True)]
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(STOP_DEADLINE_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGINT
    assert [p.pid for p in recorded if alive(p)] == []
    assert listening(ports_of(demo_env)) == set()
    [line] = stop_lines(log)
    assert line.startswith("stopped tft, nhits, sentiment (") and line.endswith("on SIGINT")


def test_a_failing_analysis_gives_the_demo_its_status(services, monkeypatch, tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text("[chain\n")
    monkeypatch.setenv("PREMARKET_CONFIG", str(config))
    status = run_demo(services.urls, tmp_path / "analysis.json", lambda: False)
    assert status not in (0, None)
    assert not (tmp_path / "analysis.json").exists()


def test_a_stop_request_ends_the_analysis(services, tmp_path):
    """The launcher's loop asks ``run_demo`` to stop; the analysis is ended, not orphaned."""
    output = tmp_path / "analysis.json"
    started: list[psutil.Process] = []

    def stop_requested() -> bool:  # once the analysis runs, as a signal to the launcher would
        started.extend(p for p in psutil.Process().children() if "analyze" in p.cmdline())
        return bool(started)

    assert analyze_command(output)[-2:] == ["--json", str(output)]
    status = run_demo(services.urls, output, stop_requested)
    assert status != 0
    assert started and not any(alive(p) for p in started)
