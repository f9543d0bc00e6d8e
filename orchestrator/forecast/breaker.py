"""Circuit breakers per target, kept in a JSON file so they survive between cron runs.

A breaker opens after ``breaker_failures`` consecutive failures of its service and then skips it
for ``breaker_cooldown_s``; after that one probe call is let through (half-open): success closes
it, failure opens it again. While that probe is out, the run's other calls to the service wait
for its verdict (``settled``) instead of being refused: a recovered service then serves the rest
of the run, and "circuit open" is only ever said of a call that really was refused. Without
persistence every cron run would pay three timeouts against a
dead service before falling back. Rejections of our own bad input (4xx) are not failures of the
service and do not count.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.documents.run import BreakerState
from premarket.settings import Settings

State = Literal["closed", "open", "half_open"]
FILE_NAME = "breakers.json"
TARGETS = ("tft", "nhits", "sentiment")
CLOCK_SKEW_S = 300.0
"""How far in the future a saved ``opened_at`` may lie (another host's clock)."""

log = logging.getLogger(__name__)


@dataclass
class Breaker:
    """One target's breaker. Times are Unix seconds so they mean the same in the next process."""

    name: str
    url: str
    failure_threshold: int = 3
    cooldown_s: float = 300.0
    state: State = "closed"
    failures: int = 0
    opened_at: float | None = None
    last_error: str | None = None
    _probing: bool = False
    _used: bool = False

    def __post_init__(self) -> None:
        self._verdict: asyncio.Event | None = None  # not a field: never saved or copied

    @property
    def probing(self) -> bool:
        """A half-open probe is out and its verdict not in yet."""
        return self.state == "half_open" and self._probing

    async def settled(self) -> None:
        """Wait until the probe that is out succeeds, fails or is released."""
        if not self.probing:
            return
        if self._verdict is None:
            self._verdict = asyncio.Event()
        await self._verdict.wait()

    def _settle(self) -> None:
        if self._verdict is not None:
            self._verdict.set()
            self._verdict = None

    @property
    def used(self) -> bool:
        """Did this process record anything (so its state is news to write back)?"""
        return self._used

    def allow(self, now: float | None = None) -> bool:
        """May a call go to the service now? In half-open state only one probe at a time."""
        now = time.time() if now is None else now
        if self.state == "open" and now - (self.opened_at or 0.0) >= self.cooldown_s:
            self.state = "half_open"
        if self.state == "closed":
            return True
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self.state, self.failures, self.opened_at, self._probing = "closed", 0, None, False
        self._used = True
        self._settle()

    def record_failure(self, error: str, now: float | None = None) -> None:
        self.failures += 1
        self.last_error = error
        self._used = True
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            self.state = "open"
            self.opened_at = time.time() if now is None else now
        self._probing = False
        self._settle()

    def release(self) -> None:
        """A let-through call ended without a verdict on the service (e.g. our input was bad)."""
        self._probing = False
        self._settle()

    def snapshot(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        if self.state == "open":
            data["retry_in_s"] = round(max(0.0, self.cooldown_s - (now - (self.opened_at or 0))), 1)
        return data


class SavedBreaker(BaseModel):
    """One entry of the breaker file as it must be; anything else is an edited or broken file."""

    model_config = ConfigDict(strict=True)

    url: str
    state: State = "closed"
    failures: int = Field(default=0, ge=0)
    opened_at: float | None = None
    last_error: str | None = None

    @field_validator("opened_at")
    @classmethod
    def _past(cls, value: float | None) -> float | None:
        # A time in the future (1e308) would keep the breaker open forever.
        if value is not None and not 0 <= value <= time.time() + CLOCK_SKEW_S:
            raise ValueError(f"{value!r} is not a past Unix time")
        return value


class BreakerBoard:
    """The breakers of all targets, loaded from and saved to ``state_dir/breakers.json``.

    A bad entry (an edited file: ``failures: "abc"``, ``state: "bogus"``, a future
    ``opened_at``) starts closed with a warning rather than crash or silence the target. Saves
    from several processes (cron runs, ``premarket serve``) are serialised by a lock file, and
    each writes back only the breakers it used, so one run never undoes another's record.
    """

    def __init__(self, settings: Settings) -> None:
        self.path = Path(settings.state_dir) / FILE_NAME
        saved = _read(self.path)
        self.breakers: dict[str, Breaker] = {}
        for name in TARGETS:
            url = getattr(settings, name).url
            breaker = Breaker(
                name,
                url,
                failure_threshold=settings.chain.breaker_failures,
                cooldown_s=settings.chain.breaker_cooldown_s,
            )
            if (old := _entry(self.path, name, saved.get(name))) and old.url == url:
                breaker.state, breaker.failures = old.state, old.failures
                breaker.opened_at, breaker.last_error = old.opened_at, old.last_error
                if breaker.state == "open" and breaker.opened_at is None:
                    breaker.opened_at = 0.0  # open since an unknown time: probe at once
                if breaker.state == "half_open":  # a probe cut short by the last process
                    breaker.state = "open"
            # A new URL starts afresh.
            self.breakers[name] = breaker

    def __getitem__(self, name: str) -> Breaker:
        return self.breakers[name]

    def states(self) -> dict[str, BreakerState]:
        return {name: BreakerState(**b.snapshot()) for name, b in self.breakers.items()}

    def save(self) -> None:
        """Write the breakers this process used, under the lock, atomically (temp + rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(FILE_NAME + ".tmp")  # one name: only the lock holder writes it
        with open(self.path.with_name(FILE_NAME + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = {n: v for n, v in _read(self.path).items() if n in TARGETS}
            for name, b in self.breakers.items():
                if b.used or name not in data:
                    data[name] = {k: v for k, v in asdict(b).items() if not k.startswith("_")}
            try:
                tmp.write_text(json.dumps(data, indent=2))
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable (%s); every breaker starts closed", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _entry(path: Path, name: str, raw: object) -> SavedBreaker | None:
    if raw is None:
        return None
    try:
        return SavedBreaker.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "entry"
        log.warning("%s: %s.%s %s; that breaker starts closed", path, name, where, err["msg"])
        return None


def breaker_states(settings: Settings) -> dict[str, BreakerState]:
    """Each target's breaker as last saved: state, failures, opened_at, retry_in_s, last_error."""
    return BreakerBoard(settings).states()
