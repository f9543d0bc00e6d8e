"""Deployment recipes for the schedule: crontab lines and a systemd timer that work as printed
(the Kubernetes manifests are in ``orchestrator.jobs.kubernetes``).

Both run ``premarket schedule --once``, which runs the slot due, skips holidays and slots already
run (``orchestrator.jobs.schedule``). The CronJobs fire at each slot minute in New York time
(Kubernetes honours ``timeZone``); the crontab fires every 5 minutes in the machine's own hours
that can hold a slot, since Debian's cron ignores ``CRON_TZ``.

Cron starts a job with a bare environment in the home directory, while the default database
(``sqlite:///premarket.db``) and state folder (``.premarket``) are relative to the working
directory. So each crontab line changes to an absolute working directory, exports the settings
and secrets of an env file (``PREMARKET_...=`` lines; a missing file fails the job, in the log,
rather than run without its secrets), calls the ``premarket`` of this installation by its
absolute path and appends everything to a log file.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from orchestrator.data.calendar import parse_slot_time
from premarket.settings import Settings

ONCE_ARGS = ["schedule", "--once"]


def installed_command() -> str:
    """``premarket schedule --once`` of this installation, by absolute path (cron has no PATH
    to the virtual environment). The interpreter path is kept as is: resolving its symlink
    would leave the virtual environment."""
    script = Path(os.path.abspath(sys.executable)).parent / "premarket"
    if script.is_file():
        return shlex.join([str(script), *ONCE_ARGS])
    return shlex.join([os.path.abspath(sys.executable), "-m", "orchestrator.cli.main", *ONCE_ARGS])


def local_hours(settings: Settings, start: date | None = None, days: int = 366) -> list[int]:
    """The hours, in this machine's own time zone (the one cron uses), that hold a slot on some
    day of the coming year: the New York slots converted with both zones' daylight-saving rules,
    so the lines are right all year on a UTC, a New York or any other machine."""
    zone = ZoneInfo(settings.schedule.timezone)
    first = start or datetime.now(zone).date()
    hours = set()
    for offset in range(days):
        day = first + timedelta(days=offset)
        for text in settings.schedule.slots:
            at = datetime.combine(day, parse_slot_time(text), tzinfo=zone)
            hours.add(at.astimezone().hour)  # no argument: the machine's local zone
    return sorted(hours)


def crontab(
    settings: Settings,
    *,
    workdir: Path,
    env_file: Path,
    log_file: Path,
    command: str | None = None,
) -> str:
    """Crontab lines in this machine's own time: every 5 minutes in the hours that can hold a
    slot. Debian's and Ubuntu's cron ignore ``CRON_TZ``, so the lines do not rely on it;
    ``schedule --once`` runs the slot that is due (slots are 5-minute multiples; a slot has
    25 minutes of grace), skips holidays and slots already run, and exits non-zero when a
    slot of the day passed without a run."""
    workdir, env_file, log_file = (Path(os.path.abspath(p)) for p in (workdir, env_file, log_file))
    q = shlex.quote
    job = (
        f"cd {q(str(workdir))} && mkdir -p {q(str(log_file.parent))} && "
        f"{{ set -a; . {q(str(env_file))}; set +a; exec {command or installed_command()}; }} "
        f">> {q(str(log_file))} 2>&1"
    ).replace("%", "\\%")  # cron turns a bare % into a newline
    hours = ",".join(map(str, local_hours(settings)))
    zone = datetime.now().astimezone().tzname()
    lines = [
        f"# premarket pre-market runs: slots {', '.join(settings.schedule.slots)} "
        f"{settings.schedule.timezone} on {settings.schedule.calendar} sessions.",
        f"# In this machine's time ({zone}), both daylight-saving periods: every 5 minutes in "
        "the hours that can hold a slot;",
        "# the command runs the slot due, skips holidays and slots already run, and exits 5 "
        "when a slot was missed today.",
        f"# Working directory (database, .premarket state): {workdir}",
        f"# Settings and secrets, PREMARKET_...= lines (chmod 600; must exist): {env_file}",
        f"# Log: {log_file}",
        f"*/5 {hours} * * * {job}",
    ]
    return "\n".join(lines) + "\n"


def systemd_units(
    settings: Settings,
    *,
    workdir: Path,
    env_file: Path,
    log_file: Path,
    command: str | None = None,
) -> dict[str, str]:
    """A ``premarket.service`` (one ``schedule --once``) and a ``premarket.timer`` that starts
    it at each slot in the schedule's own time zone (``OnCalendar=... America/New_York``, which
    systemd keeps right across daylight-saving changes), on weekdays; ``schedule --once`` skips
    holidays and slots already run. Install them in ``~/.config/systemd/user/`` (then
    ``systemctl --user enable --now premarket.timer``) or ``/etc/systemd/system/``."""
    workdir, env_file, log_file = (Path(os.path.abspath(p)) for p in (workdir, env_file, log_file))
    slots = ", ".join(settings.schedule.slots)
    calendars = [
        f"OnCalendar=Mon..Fri *-*-* {text}:00 {settings.schedule.timezone}"
        for text in settings.schedule.slots
    ]
    service = "\n".join(
        [
            "[Unit]",
            "Description=premarket: run the pre-market slot that is due",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={workdir}",
            f"EnvironmentFile={env_file}",
            f"ExecStart={command or installed_command()}",
            f"StandardOutput=append:{log_file}",
            f"StandardError=append:{log_file}",
        ]
    )
    timer = "\n".join(
        [
            "[Unit]",
            f"Description=premarket pre-market slots {slots} {settings.schedule.timezone}",
            "",
            "[Timer]",
            *calendars,
            "AccuracySec=1s",
            "",
            "[Install]",
            "WantedBy=timers.target",
        ]
    )
    return {"premarket.service": service + "\n", "premarket.timer": timer + "\n"}
