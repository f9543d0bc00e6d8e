"""``premarket schedule``: run the pre-market slots in-process, or the one due now (``--once``).

Logs go to stderr. Each slot runs the analysis, stores it under its business date and slot,
then scores forecasts and updates the paper book (``orchestrator.jobs.upkeep``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from orchestrator.cli import exits
from orchestrator.data.calendar import parse_slot_time

QUIET = ("alembic", "httpx", "httpcore")
"""Loggers whose INFO lines (migrations, one per HTTP request) a schedule does not print."""


def _slot(text: str) -> str:
    try:
        parse_slot_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once", action="store_true", help="Run the slot due now, if any, and exit (cron)."
    )
    parser.add_argument(
        "--slot", type=_slot, metavar="HH:MM", help="With --once: run this slot of today."
    )
    parser.add_argument(
        "--offline", action="store_true", help="Bundled prices and news (a demo, not live)."
    )


def run(args: argparse.Namespace) -> int:
    from orchestrator.common.clock import utc_now
    from orchestrator.data.calendar import Slot, calendar_of
    from orchestrator.jobs.analysis import run_analysis
    from orchestrator.jobs.schedule import missed_slots, run_due, run_schedule
    from orchestrator.jobs.upkeep import after_run
    from orchestrator.storage.store import Store
    from premarket.settings import load_settings

    if args.slot and not args.once:
        raise ValueError("--slot: only with --once")
    settings = load_settings()  # slots and time zone are validated there, named
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    for chatty in QUIET:  # a slot is one line, not the schema's and every request's
        logging.getLogger(chatty).setLevel(logging.WARNING)
    store = Store(settings.database_url)
    statuses: list[tuple[str, bool]] = []

    async def runner(slot: Slot) -> None:
        result = await run_analysis(settings, slot=slot.time, store=store, offline=args.offline)
        statuses.append((result.status, bool(result.degraded)))
        await after_run(settings, store, offline=args.offline)
        if result.status == "failed":
            first = result.cause or "no symbol analysed"
            raise RuntimeError(f"run {result.run_id} failed: {first}")
        logging.info(
            "slot %s %s: run %s %s%s",
            slot.business_date,
            slot.time,
            result.run_id,
            result.status,
            "".join(f"; degraded: {r}" for r in result.degraded),
        )

    try:
        if not args.once:
            asyncio.run(run_schedule(settings, store, runner))
            return 0
        slot, outcome = asyncio.run(run_due(settings, store, runner, slot_time=args.slot))
        missed = missed_slots(settings, store) if slot is None else []
    finally:
        store.close()
    if slot is None:
        calendar = calendar_of(settings)
        print(
            f"no slot due now ({settings.schedule.timezone}); next: "
            f"{calendar.next_slot(utc_now(), settings.schedule.slots).at.isoformat()}"
        )
        if missed:
            day, times = missed[0].business_date, ", ".join(m.time for m in missed)
            print(
                f"missed today ({day}): slot {times} ran no run within its grace; run it with "
                f"--once --slot HH:MM, and check that the scheduler fires in the slot window",
                file=sys.stderr,
            )
            return exits.MISSED
        return 0
    print(f"slot {slot.business_date} {slot.time}: {outcome}")
    if outcome == "failed":
        return exits.FAILED
    return exits.of_status(*statuses[-1]) if outcome == "ran" and statuses else exits.OK
