"""Deployment recipes for the schedule: crontab lines, a systemd timer and Kubernetes CronJobs
that work as printed.

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

The CronJobs run in the Bento image (``bentofile.yaml`` packs the orchestrator and its
dependencies next to the services), from the Bento's source folder.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from orchestrator.data.calendar import parse_slot_time
from orchestrator.jobs.schedule import GRACE
from premarket.settings import Settings

BENTO_SOURCE = "/home/bentoml/bento/src"
"""Where the Bento image keeps the packed source (BentoML's ``BENTO_PATH`` plus ``src``)."""
ONCE_ARGS = ["schedule", "--once"]


def installed_command() -> str:
    """``premarket schedule --once`` of this installation, by absolute path (cron has no PATH
    to the virtual environment). The interpreter path is kept as is: resolving its symlink
    would leave the virtual environment."""
    script = Path(os.path.abspath(sys.executable)).parent / "premarket"
    if script.is_file():
        return shlex.join([str(script), *ONCE_ARGS])
    return shlex.join([os.path.abspath(sys.executable), "-m", "orchestrator.cli.main", *ONCE_ARGS])


def _cron_groups(times: list[str]) -> list[tuple[int, list[int]]]:
    """Slots grouped by minute, e.g. 06:30..09:00 -> [(0, [7, 8, 9]), (30, [6, 7, 8])]."""
    groups: dict[int, list[int]] = {}
    for text in times:
        at = parse_slot_time(text)
        groups.setdefault(at.minute, []).append(at.hour)
    return [(minute, sorted(set(hours))) for minute, hours in sorted(groups.items())]


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


def kubernetes_cronjobs(
    settings: Settings,
    *,
    image: str = "premarket:latest",
    secret: str = "premarket-secrets",
    claim: str = "premarket-data",
) -> str:
    """CronJob manifests (one per slot minute) with ``timeZone``, for ``kubectl apply -f -``.

    The container is the Bento image (``bentoml build`` then ``bentoml containerize``), which
    holds the orchestrator; it runs ``python -m orchestrator.cli.main schedule --once`` from the
    Bento's source folder. Secrets (tokens, webhooks) come from a Secret, and the SQLite store
    and breaker state live on a PersistentVolumeClaim so slots stay idempotent across pods.
    ``concurrencyPolicy: Forbid`` and a starting deadline inside the grace period keep a late or
    doubled start from running a slot twice.
    """
    q = json.dumps  # JSON strings are valid YAML scalars, and quote anything odd
    command = q(["python", "-m", "orchestrator.cli.main", *ONCE_ARGS])
    docs = []
    for minute, hours in _cron_groups(settings.schedule.slots):
        schedule = f"{minute} {','.join(map(str, hours))} * * 1-5"
        docs.append(
            f"""apiVersion: batch/v1
kind: CronJob
metadata:
  name: premarket-at-minute-{minute:02d}
  labels:
    app: premarket
spec:
  schedule: {q(schedule)}
  timeZone: {q(settings.schedule.timezone)}
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {int(GRACE.total_seconds() // 2)}
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 0
      activeDeadlineSeconds: {int(GRACE.total_seconds())}
      template:
        metadata:
          labels:
            app: premarket
        spec:
          restartPolicy: Never
          containers:
            - name: premarket
              image: {q(image)}
              workingDir: {q(BENTO_SOURCE)}
              command: {command}
              envFrom:
                - secretRef:
                    name: {q(secret)}
              env:
                - name: PREMARKET_CONFIG
                  value: ""
                - name: PREMARKET_DATABASE_URL
                  value: "sqlite:////data/premarket.db"
                - name: PREMARKET_STATE_DIR
                  value: "/data/state"
              volumeMounts:
                - name: data
                  mountPath: /data
          volumes:
            - name: data
              persistentVolumeClaim:
                claimName: {q(claim)}
"""
        )
    return "---\n".join(docs)
