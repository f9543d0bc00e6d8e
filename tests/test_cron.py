"""The printed crontab line under Debian's own cron daemon (issue 28, item 1): cron starts the
job with its bare environment, /bin/sh and its own escaping, and the job writes its log.

The line's time fields are the printed ones in ``test_schedule.py`` (every slot of the year
falls on a firing minute in the machine's zone); here the same line runs every minute, so the
daemon fires it within the test: we wait for its log (a condition), not for a duration. Needs
root (``/etc/cron.d``) and Debian's ``cron`` (``make test`` installs it); without them the test
fails unless ``PREMARKET_SKIP_CRON=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.common.clock import NEW_YORK
from orchestrator.jobs.recipes import crontab
from premarket.settings import Settings

PIDFILE = Path("/run/crond.pid")
WAIT_S = 200
"""Longest wait for the first firing: the next minute, plus cron's rescan of /etc/cron.d."""


def _unavailable(why: str) -> None:
    if os.environ.get("PREMARKET_SKIP_CRON") == "1":
        pytest.skip(f"cron test skipped (PREMARKET_SKIP_CRON=1): {why}")
    pytest.fail(f"{why}; make test installs Debian's cron; PREMARKET_SKIP_CRON=1 skips", False)


def _running() -> bool:
    try:
        os.kill(int(PIDFILE.read_text().split()[0]), 0)
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture
def cron_daemon() -> Iterator[None]:
    """Debian's cron in the foreground for the test (or the one already running)."""
    binary = shutil.which("cron") or ("/usr/sbin/cron" if Path("/usr/sbin/cron").exists() else None)
    if binary is None:
        _unavailable("no cron daemon")
    if os.geteuid() != 0:
        _unavailable("not root: /etc/cron.d is not writable")
    if _running():
        yield
        return
    daemon = subprocess.Popen([binary, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def far_from_now(now: datetime) -> str:
    """Of 03:00, 06:00 and 09:00 New York, the slot furthest from ``now`` (the test may run
    for minutes and cron fires a minute later: none of them can become due meanwhile)."""
    minute = now.hour * 60 + now.minute

    def distance(slot: int) -> int:
        gap = abs(minute - slot) % (24 * 60)
        return min(gap, 24 * 60 - gap)

    return f"{max((180, 360, 540), key=distance) // 60:02d}:00"


@pytest.mark.scenario
def test_debian_cron_runs_the_printed_line(tmp_path: Path, cron_daemon) -> None:
    never_due = far_from_now(datetime.now(NEW_YORK))  # no slot due: no live run is attempted
    env_file = tmp_path / "premarket.env"
    env_file.write_text(
        "PREMARKET_CONFIG=\n"
        f"PREMARKET_SCHEDULE__SLOTS='[\"{never_due}\"]'\n"
        "PREMARKET_YAHOO_CHART_URL=http://127.0.0.1:9/{symbol}\n"
    )
    log = tmp_path / "logs" / "premarket.log"
    text = crontab(
        Settings(schedule={"slots": [never_due]}), workdir=tmp_path, env_file=env_file, log_file=log
    )
    printed = next(ln for ln in text.splitlines() if ln.startswith("*/5 "))
    command = printed.split(maxsplit=5)[5]
    entry = Path(f"/etc/cron.d/premarket-test-{os.getpid()}")
    entry.write_text(f"* * * * * root {command}\n")  # the printed command, every minute
    entry.chmod(0o644)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not (
            log.exists() and "no slot due" in log.read_text()
        ):
            time.sleep(1)
    finally:
        entry.unlink()
    assert log.exists(), f"cron did not run the line within {WAIT_S} s"
    assert "no slot due now" in log.read_text()
    assert (tmp_path / "premarket.db").is_file()  # cron's job worked in the printed directory
