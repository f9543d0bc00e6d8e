"""The pre-market schedule: in-process (``premarket schedule``) or from cron / Kubernetes.

Slots are New York wall-clock times (``settings.schedule.slots``) on NYSE sessions only, so the
schedule follows daylight saving and skips holidays (see ``orchestrator.trading_calendar``).
Every slot is idempotent: before running, the store is asked whether that business date and
slot already has a run, so a restarted scheduler, a retried cron job or both at once never run
a slot twice. Cron cannot know NYSE holidays, so the lines ``premarket crontab`` prints call
``premarket schedule --once``, which runs the slot that is due now, if it is a session and not
yet run, and otherwise does nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from orchestrator.clock import utc_now
from orchestrator.trading_calendar import Slot, TradingCalendar, parse_slot_time
from premarket.settings import Settings

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=25)
"""How late a slot may still start: a restart or a slow cron start inside it still runs it."""
ONCE_COMMAND = "premarket schedule --once"

SlotRunner = Callable[[Slot], Awaitable[object]]
Outcome = Literal["ran", "skipped", "failed"]


class SlotLedger(Protocol):
    def has_run_for_slot(self, business_date: date, slot: str) -> bool: ...


def calendar_of(settings: Settings) -> TradingCalendar:
    return TradingCalendar(settings.schedule.calendar, settings.schedule.timezone)


async def run_slot_once(
    slot: Slot, ledger: SlotLedger, runner: SlotRunner, attempted: set[tuple[date, str]]
) -> Outcome:
    """Run ``slot`` unless the store has it or this process already tried it.

    A failed run is logged and not retried within the slot: the next slot is minutes away and a
    tight retry loop against a broken dependency helps no one.
    """
    key = (slot.business_date, slot.time)
    if key in attempted or ledger.has_run_for_slot(slot.business_date, slot.time):
        return "skipped"
    attempted.add(key)
    log.info("running slot %s %s (New York)", slot.business_date, slot.time)
    try:
        await runner(slot)
    except Exception:  # one slot's failure must not stop the schedule
        log.exception("slot %s %s failed", slot.business_date, slot.time)
        return "failed"
    return "ran"


async def run_schedule(
    settings: Settings,
    ledger: SlotLedger,
    runner: SlotRunner,
    *,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    until: datetime | None = None,
) -> list[Slot]:
    """Run every slot as it comes due, until ``until`` (forever when None); returns those run."""
    calendar = calendar_of(settings)
    times = settings.schedule.slots
    attempted: set[tuple[date, str]] = set()
    ran: list[Slot] = []
    while True:
        now = clock()
        slot = calendar.due_slot(now, times, GRACE)
        if slot is not None and await run_slot_once(slot, ledger, runner, attempted) == "ran":
            ran.append(slot)
            continue
        upcoming = calendar.next_slot(now, times)
        if until is not None and upcoming.at_utc > until.astimezone(UTC):
            return ran
        wait = (upcoming.at_utc - now.astimezone(UTC)).total_seconds()
        log.info("next slot %s %s in %.0f s", upcoming.business_date, upcoming.time, wait)
        await sleep(max(wait, 0.0))


async def run_due(
    settings: Settings,
    ledger: SlotLedger,
    runner: SlotRunner,
    *,
    now: datetime | None = None,
    slot_time: str | None = None,
) -> tuple[Slot | None, Outcome | None]:
    """``--once``: the slot due at ``now`` (or the named one today) and what happened to it."""
    calendar = calendar_of(settings)
    now = now or utc_now()
    if slot_time is None:
        slot = calendar.due_slot(now, settings.schedule.slots, GRACE)
    else:
        if slot_time not in settings.schedule.slots:
            # "6:30" is not "06:30": a second spelling would be a second run of the slot.
            raise ValueError(
                f"slot {slot_time!r}: not one of the configured slots "
                f"({', '.join(settings.schedule.slots)})"
            )
        today = now.astimezone(calendar.tz).date()
        slot = next((s for s in calendar.slots_on(today, [slot_time])), None)
    if slot is None:
        return None, None
    return slot, await run_slot_once(slot, ledger, runner, set())


def _cron_groups(times: list[str]) -> list[tuple[int, list[int]]]:
    """Slots grouped by minute, e.g. 06:30..09:00 -> [(0, [7, 8, 9]), (30, [6, 7, 8])]."""
    groups: dict[int, list[int]] = {}
    for text in times:
        at = parse_slot_time(text)
        groups.setdefault(at.minute, []).append(at.hour)
    return [(minute, sorted(set(hours))) for minute, hours in sorted(groups.items())]


def crontab(settings: Settings, command: str = ONCE_COMMAND) -> str:
    """Crontab lines in New York time (``CRON_TZ``, cronie and systemd-cron honour it)."""
    lines = [
        "# premarket pre-market runs, New York time, Monday to Friday.",
        f"# Slots: {', '.join(settings.schedule.slots)}. The command skips {settings.schedule.calendar}"
        " holidays and slots already run.",
        f"CRON_TZ={settings.schedule.timezone}",
    ]
    for minute, hours in _cron_groups(settings.schedule.slots):
        lines.append(f"{minute} {','.join(map(str, hours))} * * 1-5 {command}")
    return "\n".join(lines) + "\n"


def kubernetes_cronjobs(
    settings: Settings,
    *,
    image: str = "premarket:latest",
    secret: str = "premarket-secrets",
    claim: str = "premarket-data",
) -> str:
    """CronJob manifests (one per slot minute) with ``timeZone``, for ``kubectl apply -f -``.

    The container runs ``premarket schedule --once``; secrets (tokens, webhooks) come from a
    Secret, and the SQLite store and breaker state live on a PersistentVolumeClaim so slots
    stay idempotent across pods. ``concurrencyPolicy: Forbid`` and a starting deadline inside
    the grace period keep a late or doubled start from running a slot twice.
    """
    q = json.dumps  # JSON strings are valid YAML scalars, and quote anything odd
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
              command: ["premarket", "schedule", "--once"]
              envFrom:
                - secretRef:
                    name: {q(secret)}
              env:
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
