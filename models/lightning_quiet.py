"""Training output without Lightning's noise (issue 32.5): what the trainers print is their own
progress and results, not the libraries' start-up lines, adverts or warnings about themselves.

Filtered where it is raised, for the duration of a fit only (never a blanket filter):
- Lightning's INFO lines: the accelerators found ("GPU available: False"), its "💡 Tip"
  adverts for its cloud products, and why a fit stopped (the trainers report that themselves);
- neuralforecast's "Attribute 'callbacks' removed from hparams" (it saves its own arguments);
- Lightning's own use of a torch API torch deprecated (``isinstance(treespec, LeafSpec)``).
Warnings and errors of any other kind still show.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "lightning_fabric",
    "pytorch_lightning",
)
PACKAGES = ("lightning.pytorch", "pytorch_lightning")
WARNINGS = (
    "Attribute 'callbacks' removed from hparams",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's loggers at WARNING and the two warnings above ignored, inside the block.

    Lightning sets its loggers to INFO when it is first imported, so both of its packages are
    imported here first: a trainer that imports them lazily, inside the block, would
    otherwise undo the levels set below (the CLI did; a test process that had imported them
    earlier did not show it)."""
    for package in PACKAGES:
        with contextlib.suppress(ImportError):
            importlib.import_module(package)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for message in WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
