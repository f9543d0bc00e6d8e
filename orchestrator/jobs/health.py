"""Is a run degraded? An outage that still produced signals must not look like success.

A run is degraded when a symbol's forecast came from the statistical tier because both model
tiers were unavailable (a service fault or an open breaker for each, not our own bad input), or
when alerts were due and no channel delivered any of them. Its reasons go into the run
document (``degraded``), the caption, and the exit status (``cli.exits.DEGRADED``).
"""

from __future__ import annotations

from orchestrator.documents.run import RunResult
from orchestrator.jobs.stages import SERVICE_FAULTS


def degraded_reasons(result: RunResult) -> list[str]:
    """The reasons the run is degraded (empty when it is not)."""
    reasons: list[str] = []
    fallen = sorted(
        symbol
        for symbol, signal in result.signals.items()
        if signal.price.tier == "statistical"
        and {c.target for c in signal.price.calls if c.outcome in SERVICE_FAULTS}
        >= {"tft", "nhits"}
    )
    if fallen:
        reasons.append(
            f"{len(fallen)} of {len(result.signals)} symbols on the statistical tier: the TFT "
            f"and N-HITS services were both unavailable ({', '.join(fallen[:5])}"
            f"{', ...' if len(fallen) > 5 else ''})"
        )
    due = [a for a in result.alerts if not a.duplicate]
    if due and not any(a.delivered for a in due) and any(a.errors for a in due):
        reasons.append(f"alerts undeliverable: none of {len(due)} alert(s) reached a channel")
    return reasons
