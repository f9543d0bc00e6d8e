"""Slot claims: one run per (business date, slot) across schedulers, cron jobs and hosts.

Checking "has this slot run?" before a run and storing the run minutes later leaves a window in
which two schedulers both run it. So before a run starts its scheduler inserts a claim row keyed
by (business date, slot): the primary key lets exactly one of any number of concurrent
claimants in, on SQLite and PostgreSQL alike. The owner refreshes ``heartbeat_at`` while it
runs (every ``HEARTBEAT``); a claim whose heartbeat is older than ``EXPIRY`` belongs to an
owner that died (killed, host lost) and can be taken over by one claimant, the database
deciding which. A finished run marks its claim done, never taken over; a failed run deletes its
claim so the slot can be retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.common.clock import utc_now
from orchestrator.storage.engine import naive_utc
from orchestrator.storage.tables import slot_claims

EXPIRY = timedelta(minutes=10)
"""A running claim with no heartbeat for this long is taken to be dead and may be retaken."""
HEARTBEAT = timedelta(minutes=1)
"""How often a running owner refreshes its claim: many beats fit in one ``EXPIRY``."""


@dataclass(frozen=True)
class SlotClaim:
    """Who holds a slot: ``state`` is ``running`` or ``done``; times are naive UTC."""

    owner: str
    state: str
    heartbeat_at: datetime


class SlotClaims:
    """The ``slot_claims`` table."""

    def __init__(self, engine: Engine, expiry: timedelta = EXPIRY) -> None:
        self.engine = engine
        self.expiry = expiry

    def claim(
        self, business_date: date, slot: str, owner: str, now: datetime | None = None
    ) -> SlotClaim:
        """Try to take the slot for ``owner``; the claim holding it afterwards (``owner`` is
        ours when we got it). An expired running claim is taken over."""
        at = naive_utc(now or utc_now())
        key = (slot_claims.c.business_date == business_date, slot_claims.c.slot == slot)
        mine = SlotClaim(owner, "running", at)
        while True:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(slot_claims).values(
                            business_date=business_date,
                            slot=slot,
                            owner=owner,
                            state="running",
                            claimed_at=at,
                            heartbeat_at=at,
                        )
                    )
                return mine
            except IntegrityError:
                pass
            with self.engine.begin() as conn:
                taken = conn.execute(
                    update(slot_claims)
                    .where(*key, slot_claims.c.state == "running")
                    .where(slot_claims.c.heartbeat_at < at - self.expiry)
                    .values(owner=owner, claimed_at=at, heartbeat_at=at)
                ).rowcount
                row = conn.execute(
                    select(
                        slot_claims.c.owner, slot_claims.c.state, slot_claims.c.heartbeat_at
                    ).where(*key)
                ).first()
            if taken:
                return mine
            if row is not None:  # else released meanwhile: insert again
                return SlotClaim(row.owner, row.state, row.heartbeat_at)

    def heartbeat(
        self, business_date: date, slot: str, owner: str, now: datetime | None = None
    ) -> bool:
        """Refresh ``owner``'s running claim; False when it is no longer ``owner``'s."""
        return self._change(business_date, slot, owner, heartbeat_at=naive_utc(now or utc_now()))

    def finish(self, business_date: date, slot: str, owner: str) -> bool:
        """Mark the slot done (its run is stored); False when the claim was lost meanwhile."""
        return self._change(business_date, slot, owner, state="done")

    def release(self, business_date: date, slot: str, owner: str) -> None:
        """Give up ``owner``'s running claim after a failed run, so the slot can be retried."""
        with self.engine.begin() as conn:
            conn.execute(delete(slot_claims).where(*self._mine(business_date, slot, owner)))

    def _change(self, business_date: date, slot: str, owner: str, **values: object) -> bool:
        with self.engine.begin() as conn:
            query = update(slot_claims).where(*self._mine(business_date, slot, owner))
            return conn.execute(query.values(**values)).rowcount == 1

    @staticmethod
    def _mine(business_date: date, slot: str, owner: str) -> tuple:
        return (
            slot_claims.c.business_date == business_date,
            slot_claims.c.slot == slot,
            slot_claims.c.owner == owner,
            slot_claims.c.state == "running",
        )
