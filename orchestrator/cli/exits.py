"""Exit statuses of ``premarket`` commands, stated once (``premarket --help`` and the README).

A cron job or supervisor can tell a partial morning from a failed one without parsing output.
"""

from __future__ import annotations

OK = 0
"""Every symbol analysed on fresh data (or the command did what it was asked)."""
FAILED = 1
"""The run analysed no symbol or could not be stored, or the command failed; one line on stderr."""
USAGE = 2
"""A bad argument or setting; one line on stderr naming it."""
PARTIAL = 3
"""The run stored signals, but some symbols failed or were analysed on stale data."""
DEGRADED = 4
"""The run stored signals through an outage: symbols fell to the statistical tier because both
model services were unavailable, or no alert could be delivered (``jobs.health``)."""

MISSED = 5
"""``schedule --once``: nothing due now, but a slot of today passed without a run."""

HELP = (
    "exit status: 0 ok; 1 failed (no symbol analysed, store failed, or an error); "
    "2 bad argument or setting; 3 partial (some symbols failed or had stale data); "
    "4 degraded (both model services down, or no alert delivered); "
    "5 a slot of today was missed (schedule --once)"
)


def of_status(status: str, degraded: bool = False) -> int:
    """The exit status of a run's ``status`` (ok, partial, failed); a degraded run that was
    not a failure exits ``DEGRADED``, whatever else it had."""
    if degraded and status != "failed":
        return DEGRADED
    return {"ok": OK, "partial": PARTIAL}.get(status, FAILED)


class UsageError(Exception):
    """An argument that parses but cannot be used; ``main`` prints it on one line, exit 2."""
