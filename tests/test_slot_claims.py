"""One run per slot, on SQLite and on a real PostgreSQL server: the claim row, its heartbeat
and expiry, and two schedulers (each with its own store, as two hosts would be) on one slot."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from test_api import stored_doc
from test_schedule import ny

from orchestrator.jobs.schedule import run_due
from orchestrator.storage.slots import EXPIRY
from orchestrator.storage.store import Store
from premarket.settings import Settings

DAY, SLOT = date(2024, 7, 5), "06:30"
T0 = datetime(2024, 7, 5, 10, 30, tzinfo=UTC)


@pytest.fixture
def store(database_url: str):
    s = Store(database_url)
    yield s
    s.close()


def test_one_owner_per_slot_until_its_heartbeat_expires(store: Store) -> None:
    claims = store.slot_claims
    assert claims.claim(DAY, SLOT, "a", T0).owner == "a"
    held = claims.claim(DAY, SLOT, "b", T0 + timedelta(seconds=1))
    assert (held.owner, held.state) == ("a", "running")
    assert claims.claim(DAY, "07:00", "b", T0).owner == "b"  # another slot is free
    # A heartbeat keeps the claim alive past the expiry counted from the claim.
    assert claims.heartbeat(DAY, SLOT, "a", T0 + EXPIRY - timedelta(seconds=1))
    assert claims.claim(DAY, SLOT, "b", T0 + EXPIRY + timedelta(seconds=1)).owner == "a"
    # No heartbeat for longer than EXPIRY: the owner is taken as dead, the next claimant wins.
    late = T0 + 2 * EXPIRY
    assert claims.claim(DAY, SLOT, "b", late).owner == "b"
    assert not claims.heartbeat(DAY, SLOT, "a", late)  # the dead owner cannot come back
    assert not claims.finish(DAY, SLOT, "a")
    assert claims.finish(DAY, SLOT, "b")
    # A done slot is never taken over, however old.
    done = claims.claim(DAY, SLOT, "c", late + 10 * EXPIRY)
    assert (done.owner, done.state) == ("b", "done")


def test_a_failed_run_releases_its_claim_so_the_slot_is_retried(store: Store) -> None:
    claims = store.slot_claims
    assert claims.claim(DAY, SLOT, "a", T0).owner == "a"
    claims.release(DAY, SLOT, "someone else")  # only the owner releases
    assert claims.claim(DAY, SLOT, "b", T0).owner == "a"
    claims.release(DAY, SLOT, "a")
    assert claims.claim(DAY, SLOT, "b", T0).owner == "b"


def test_two_schedulers_on_one_slot_run_it_exactly_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Both start the slot together; the winner's run lasts until the loser has given up, so
    the loser meets the claim, not a stored run."""
    settings = Settings(database_url=database_url)
    now = ny(2024, 7, 5, 6, 31)
    ran: list[str] = []
    outcomes: dict[str, str] = {}
    loser_done = threading.Event()
    start = threading.Barrier(2)

    def scheduler(name: str) -> None:
        store, outcome = Store(database_url), None

        async def runner(slot) -> None:
            ran.append(name)
            assert await asyncio.to_thread(loser_done.wait, 60), "the other scheduler hung"
            store.save_run(stored_doc(f"run_{name}", "2024-07-05", "2024-07-05T10:32:00Z", SLOT))

        try:
            start.wait(30)
            _, outcome = asyncio.run(run_due(settings, store, runner, now=now, slot_time=SLOT))
            outcomes[name] = outcome
        finally:
            store.close()
            if outcome == "skipped":
                loser_done.set()

    caplog.set_level(logging.INFO, logger="orchestrator.jobs.schedule")
    threads = [threading.Thread(target=scheduler, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert sorted(outcomes.values()) == ["ran", "skipped"] and len(ran) == 1
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and f"slot 2024-07-05 {SLOT} skipped: being run by" in skipped[0]
    store = Store(database_url)
    try:
        assert store.latest_run().run_id == f"run_{ran[0]}"
        holder = store.slot_claims.claim(DAY, SLOT, "late", now)
        assert holder.state == "done"
    finally:
        store.close()


def test_the_scheduler_retakes_a_dead_owners_slot_and_retries_a_failed_one(store: Store) -> None:
    settings = Settings()  # the calendar and the slots; the store is the fixture's
    start = ny(2024, 7, 5, 6, 31)
    ran: list[str] = []

    async def ok(slot) -> None:
        ran.append(slot.time)
        store.save_run(stored_doc(f"run_{len(ran)}", "2024-07-05", "2024-07-05T10:35:00Z", SLOT))

    async def failing(slot) -> None:
        raise RuntimeError("model services down")

    def once(runner, now: datetime) -> str:
        return asyncio.run(run_due(settings, store, runner, now=now, slot_time=SLOT))[1]

    store.slot_claims.claim(DAY, SLOT, "host-that-died:123:abc", start)
    assert once(ok, start + EXPIRY - timedelta(seconds=1)) == "skipped"  # may still be alive
    assert once(failing, start + EXPIRY + timedelta(seconds=1)) == "failed"  # taken over, failed
    assert once(ok, start + EXPIRY + timedelta(seconds=2)) == "ran"  # the failure released it
    assert once(ok, start + EXPIRY + timedelta(seconds=3)) == "skipped"
    assert ran == [SLOT]
