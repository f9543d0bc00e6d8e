"""The one progress bar of the project: training runs and the backtest show the same columns.

It lives in the light core so that both ``models`` and ``orchestrator`` can use it without
importing each other. The bar draws on stderr, so stdout stays free for results (JSON, tables).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(*, enabled: bool = True, label_width: int = 0, status: bool = False) -> Progress:
    """A rich ``Progress`` (use it as a context manager); a silent one when not ``enabled``.

    ``label_width`` pads task descriptions so that several bars line up; ``status`` adds a
    column showing each task's ``status`` field (pass ``status=...`` to ``add_task``).
    """
    columns = [
        TextColumn(f"{{task.description:<{label_width}}}" if label_width else "{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    if status:
        columns.append(TextColumn("{task.fields[status]}"))
    return Progress(*columns, console=Console(stderr=True), disable=not enabled)
