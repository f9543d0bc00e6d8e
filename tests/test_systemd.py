"""The printed systemd timer (issue 28, item 1): ``systemd-analyze verify`` accepts the units,
and ``systemd-analyze calendar`` says each ``OnCalendar`` line fires at its slot in New York
time on weekdays, across both daylight-saving changes. Needs ``systemd-analyze`` (``make test``
installs Debian's ``systemd`` when missing); without it the test fails unless
``PREMARKET_SKIP_SYSTEMD=1``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.common.clock import NEW_YORK

BASES = [date(2024, 1, 5), date(2024, 3, 8), date(2024, 10, 31), date(2024, 7, 3)]
"""Winter, the Friday before the March change, the week of the November change, summer."""


@pytest.fixture
def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("PREMARKET_SKIP_SYSTEMD") == "1":
            pytest.skip("systemd-analyze missing (PREMARKET_SKIP_SYSTEMD=1)")
        pytest.fail("systemd-analyze missing; make test installs it (package systemd)", False)
    return found


def _weekdays_after(day: date, count: int) -> list[date]:
    days, current = [], day
    while len(days) < count:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days.append(current)
    return days


def test_the_printed_timer_fires_at_the_new_york_slots_all_year(analyze, tmp_path: Path, capsys):
    units = tmp_path / "units"
    (tmp_path / "premarket.env").write_text("PREMARKET_SYMBOLS=AAPL\n")
    assert main(["crontab", "--systemd", str(units), "--workdir", str(tmp_path)]) == 0
    assert "systemctl --user enable --now premarket.timer" in capsys.readouterr().out
    service, timer = units / "premarket.service", units / "premarket.timer"
    checked = subprocess.run(
        [analyze, "verify", str(service), str(timer)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert f"WorkingDirectory={tmp_path}" in service.read_text()
    specs = re.findall(r"^OnCalendar=(.+)$", timer.read_text(), flags=re.M)
    assert len(specs) == 6  # the default slots, 06:30 to 09:00
    for spec in specs:
        slot = time.fromisoformat(spec.split()[2])
        for base in BASES:
            answer = subprocess.run(
                [
                    analyze,
                    "calendar",
                    "--iterations",
                    "3",
                    "--base-time",
                    f"{base} 23:59 UTC",
                    spec,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "TZ": "UTC"},
            )
            assert answer.returncode == 0, answer.stderr
            fired = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", answer.stdout)
            expected = [
                datetime.combine(day, slot, tzinfo=NEW_YORK).astimezone(UTC).strftime("%F %T")
                for day in _weekdays_after(base, 3)
            ]
            assert fired == expected, (spec, base, answer.stdout)
