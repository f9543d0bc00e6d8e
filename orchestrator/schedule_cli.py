"""``premarket schedule``: run the pre-market slots in-process, or the one due now (``--once``).

Logs go to stderr. Each slot runs the analysis, stores it under its business date and slot,
then scores forecasts and updates the paper book (``orchestrator.upkeep``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from orchestrator.trading_calendar import parse_slot_time


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
    from orchestrator.clock import utc_now
    from orchestrator.job import run_analysis
    from orchestrator.schedule import calendar_of, run_due, run_schedule
    from orchestrator.store import Store
    from orchestrator.trading_calendar import Slot
    from orchestrator.upkeep import after_run
    from premarket.settings import load_settings

    if args.slot and not args.once:
        raise ValueError("--slot: only with --once")
    settings = load_settings()
    for text in settings.schedule.slots:
        parse_slot_time(text)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    store = Store(settings.database_url)

    async def runner(slot: Slot) -> None:
        doc = await run_analysis(settings, slot=slot.time, store=store, offline=args.offline)
        await after_run(settings, store, offline=args.offline)
        if doc["status"] == "failed":
            first = doc["errors"][0]["error"] if doc["errors"] else "no symbol analysed"
            raise RuntimeError(f"run {doc['run_id']} failed: {first}")
        logging.info(
            "slot %s %s: run %s %s", slot.business_date, slot.time, doc["run_id"], doc["status"]
        )

    try:
        if not args.once:
            asyncio.run(run_schedule(settings, store, runner))
            return 0
        slot, outcome = asyncio.run(run_due(settings, store, runner, slot_time=args.slot))
    finally:
        store.close()
    if slot is None:
        calendar = calendar_of(settings)
        print(
            f"no slot due now ({settings.schedule.timezone}); next: "
            f"{calendar.next_slot(utc_now(), settings.schedule.slots).at.isoformat()}"
        )
        return 0
    print(f"slot {slot.business_date} {slot.time}: {outcome}")
    return 1 if outcome == "failed" else 0
