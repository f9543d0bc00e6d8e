"""Slot idempotence against a real store (SQLite and PostgreSQL), across scheduler restarts; the
crontab CLI."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from test_api import stored_doc
from test_schedule import FakeTime, ny

from orchestrator.cli.main import main
from orchestrator.jobs.schedule import run_schedule
from orchestrator.storage.store import Store
from premarket.settings import Settings


def scheduler(settings: Settings, time: FakeTime, ran: list, statuses: dict[str, str]):
    """A fresh scheduler process: its own Store object and memory, the same database file."""
    store = Store(settings.database_url)

    async def runner(slot) -> None:
        ran.append(slot.time)
        time.now += timedelta(minutes=3)
        status = statuses.get(slot.time, "ok")
        doc = stored_doc(
            f"run_{slot.time}_{len(ran)}",
            slot.business_date.isoformat(),
            time.now.isoformat().replace("+00:00", "Z"),
            slot.time,
        )
        doc.status = status
        store.save_run(doc)
        if status == "failed":  # as the CLI's runner does: a failed run raises
            raise RuntimeError(f"run {doc.run_id} failed")

    return store, runner


def test_restarted_scheduler_runs_no_slot_twice_but_retries_a_failed_one(
    database_url: str,
) -> None:
    settings = Settings(database_url=database_url)
    time, ran = FakeTime(ny(2024, 7, 5, 6, 25)), []

    store, runner = scheduler(settings, time, ran, {"07:00": "failed"})
    until = ny(2024, 7, 5, 7, 5)
    asyncio.run(
        run_schedule(settings, store, runner, clock=time.clock, sleep=time.sleep, until=until)
    )
    store.close()
    assert ran == ["06:30", "07:00"]

    # The process restarts at 07:08: 06:30 ran; 07:00 failed, so it runs again within its grace.
    time.now = ny(2024, 7, 5, 7, 8)
    store, runner = scheduler(settings, time, ran, {})
    until = ny(2024, 7, 5, 7, 35)
    asyncio.run(
        run_schedule(settings, store, runner, clock=time.clock, sleep=time.sleep, until=until)
    )
    assert ran == ["06:30", "07:00", "07:00", "07:30"]

    # Restarted again inside the 07:30 slot: nothing to do.
    time.now = ny(2024, 7, 5, 7, 40)
    asyncio.run(
        run_schedule(settings, store, runner, clock=time.clock, sleep=time.sleep, until=until)
    )
    assert ran == ["06:30", "07:00", "07:00", "07:30"]
    store.close()


def test_crontab_command(capsys) -> None:
    assert main(["crontab"]) == 0
    out = capsys.readouterr().out
    assert "CRON_TZ" not in out and "\n*/5 " in out and " * * * cd " in out
    assert "schedule --once; } >> " in out
    assert main(["crontab", "--kubernetes", "--image", "ghcr.io/x/premarket:1"]) == 0
    manifest = capsys.readouterr().out
    assert 'timeZone: "America/New_York"' in manifest and "ghcr.io/x/premarket:1" in manifest
