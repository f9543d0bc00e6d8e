"""Circuit breakers per target, kept in a JSON file so they survive between cron runs.

A breaker opens after ``breaker_failures`` consecutive failures of its service and then skips it
for ``breaker_cooldown_s``; after that one probe call is let through (half-open): success closes
it, failure opens it again. Without persistence every cron run would pay three timeouts against a
dead service before falling back. Rejections of our own bad input (4xx) are not failures of the
service and do not count.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from premarket.settings import Settings

State = Literal["closed", "open", "half_open"]
FILE_NAME = "breakers.json"
TARGETS = ("tft", "nhits", "sentiment")


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

    def record_failure(self, error: str, now: float | None = None) -> None:
        self.failures += 1
        self.last_error = error
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            self.state = "open"
            self.opened_at = time.time() if now is None else now
        self._probing = False

    def release(self) -> None:
        """A let-through call ended without a verdict on the service (e.g. our input was bad)."""
        self._probing = False

    def snapshot(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        if self.state == "open":
            data["retry_in_s"] = round(max(0.0, self.cooldown_s - (now - (self.opened_at or 0))), 1)
        return data


class BreakerBoard:
    """The breakers of all targets, loaded from and saved to ``state_dir/breakers.json``."""

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
            old = saved.get(name)
            if isinstance(old, dict) and old.get("url") == url:  # a new URL starts afresh
                breaker.state = old.get("state", "closed")
                breaker.failures = int(old.get("failures", 0))
                breaker.opened_at = old.get("opened_at")
                breaker.last_error = old.get("last_error")
                if breaker.state == "half_open":  # a probe cut short by the last process
                    breaker.state = "open"
            self.breakers[name] = breaker

    def __getitem__(self, name: str) -> Breaker:
        return self.breakers[name]

    def states(self) -> dict[str, dict]:
        return {name: b.snapshot() for name, b in self.breakers.items()}

    def save(self) -> None:
        """Write atomically (temp file + rename) so a killed run never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        data = {
            n: {k: v for k, v in asdict(b).items() if not k.startswith("_")}
            for n, b in self.breakers.items()
        }
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.path)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def breaker_states(settings: Settings) -> dict[str, dict]:
    """Each target's breaker as last saved: state, failures, opened_at, retry_in_s, last_error."""
    return BreakerBoard(settings).states()
