"""The pre-market schedule: in-process (``premarket schedule``) or from cron / Kubernetes.

Slots are New York wall-clock times (``settings.schedule.slots``) on NYSE sessions only, so the
schedule follows daylight saving and skips holidays (see ``orchestrator.data.calendar``).
Every slot runs once: before running, the store is asked whether that business date and slot
already has a run, then the slot is claimed in the store (``orchestrator.storage.slots``), so a
restarted scheduler, a retried cron job, both at once or two hosts never run a slot twice; the
loser skips with one log line. A failed run gives its claim back so the slot can be retried. Cron cannot know NYSE holidays, so the recipes ``premarket crontab`` prints
(``orchestrator.jobs.recipes``) call ``premarket schedule --once``, which runs the slot that is
due now, if it is a session and not yet run, and otherwise does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from orchestrator.common.clock import utc_now
from orchestrator.data.calendar import Slot, calendar_of
from orchestrator.storage.slots import HEARTBEAT, SlotClaims
from premarket.sections import SLOT_GRACE_MIN
from premarket.settings import Settings

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=SLOT_GRACE_MIN)
"""How late a slot may still start: a restart or a slow cron start inside it still runs it
(the settings keep every slot's grace before the open)."""

SlotRunner = Callable[[Slot], Awaitable[object]]
Outcome = Literal["ran", "skipped", "failed"]


class SlotLedger(Protocol):
    slot_claims: SlotClaims

    def has_run_for_slot(self, business_date: date, slot: str) -> bool: ...


def new_owner() -> str:
    """Names one attempt at a slot: host, process and a random part (two schedulers in one
    process are two owners)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _keep_alive(
    claims: SlotClaims, slot: Slot, owner: str, clock: Callable[[], datetime]
) -> None:
    """Refresh the claim every ``HEARTBEAT`` while the run goes on (cancelled when it ends)."""
    while True:
        await asyncio.sleep(HEARTBEAT.total_seconds())
        alive = await asyncio.to_thread(
            claims.heartbeat, slot.business_date, slot.time, owner, clock()
        )
        if not alive:
            log.warning("slot %s %s: claim lost to another owner", slot.business_date, slot.time)


async def run_slot_once(
    slot: Slot,
    ledger: SlotLedger,
    runner: SlotRunner,
    attempted: set[tuple[date, str]],
    clock: Callable[[], datetime] = utc_now,
) -> Outcome:
    """Run ``slot`` unless the store has it, another owner holds its claim, or this process
    already tried it.

    A failed run is logged and not retried within the slot by this process: the next slot is
    minutes away and a tight retry loop against a broken dependency helps no one.
    """
    key = (slot.business_date, slot.time)
    # The store calls wait on the database (and on other processes' claims): off the loop.
    if key in attempted or await asyncio.to_thread(
        ledger.has_run_for_slot, slot.business_date, slot.time
    ):
        return "skipped"
    owner = new_owner()
    claims = ledger.slot_claims
    holder = await asyncio.to_thread(claims.claim, slot.business_date, slot.time, owner, clock())
    if holder.owner != owner:
        log.info(
            "slot %s %s skipped: %s by %s (heartbeat %s UTC)",
            slot.business_date,
            slot.time,
            "already run" if holder.state == "done" else "being run",
            holder.owner,
            holder.heartbeat_at.isoformat(timespec="seconds"),
        )
        return "skipped"
    attempted.add(key)
    log.info("running slot %s %s (New York) as %s", slot.business_date, slot.time, owner)
    heartbeat = asyncio.create_task(_keep_alive(claims, slot, owner, clock))
    try:
        await runner(slot)
    except Exception as exc:  # one slot's failure must not stop the schedule; one line, no trace
        log.error("slot %s %s failed: %s", slot.business_date, slot.time, _one_line(exc))
        await asyncio.to_thread(claims.release, slot.business_date, slot.time, owner)
        return "failed"
    finally:
        heartbeat.cancel()
    if not await asyncio.to_thread(claims.finish, slot.business_date, slot.time, owner):
        log.warning("slot %s %s: ran, but its claim had expired", slot.business_date, slot.time)
    return "ran"


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if not isinstance(exc, RuntimeError) else text


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
        if (
            slot is not None
            and await run_slot_once(slot, ledger, runner, attempted, clock) == "ran"
        ):
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
    clock = utc_now if now is None else (lambda: now)
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
    return slot, await run_slot_once(slot, ledger, runner, set(), clock)


def missed_slots(settings: Settings, ledger: SlotLedger, now: datetime | None = None) -> list[Slot]:
    """Today's slots whose grace has passed with no run stored: ``--once`` says so and exits
    non-zero, so a cron that fires at the wrong hours (or a machine that slept) is noticed."""
    now = now or utc_now()
    calendar = calendar_of(settings)
    today = now.astimezone(calendar.tz).date()
    return [
        slot
        for slot in calendar.slots_on(today, settings.schedule.slots)
        if slot.at_utc + GRACE <= now.astimezone(UTC)
        and not ledger.has_run_for_slot(slot.business_date, slot.time)
    ]
