"""The model services' own environment variables: ``PREMARKET_SERVICE_*``.

The services (``serving/``) and the orchestrator are configured apart. The orchestrator's
settings are ``PREMARKET_<FIELD>`` and ``PREMARKET_<SECTION>__<FIELD>``; the services' earlier
names (``PREMARKET_TFT_TAG`` beside the orchestrator's ``PREMARKET_TFT__URL``) differed by one
underscore. Every service variable now starts with ``PREMARKET_SERVICE_``; the old names still
work, with one deprecation line each, and a misspelled ``PREMARKET_SERVICE_*`` stops a service
from starting instead of being ignored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

PREFIX = "PREMARKET_SERVICE_"
RENAMED = {
    "TFT_TAG": "PREMARKET_TFT_TAG",
    "NHITS_TAG": "PREMARKET_NHITS_TAG",
    "SENTIMENT_TAG": "PREMARKET_SENTIMENT_TAG",
    "TORCH_THREADS": "PREMARKET_TORCH_THREADS",
    "QUEUE_CAPACITY": "PREMARKET_QUEUE_CAPACITY",
    "READ_TIMEOUT_S": "PREMARKET_READ_TIMEOUT_S",
    "SENTIMENT_INT8": "PREMARKET_SENTIMENT_INT8",
}
"""Each variable's name after the prefix, and its old name (kept working, deprecated)."""
NAMES = frozenset({*RENAMED, "TOKEN"})

log = logging.getLogger(__name__)
_warned: set[str] = set()


class UnknownServiceVariable(ValueError):
    """A ``PREMARKET_SERVICE_*`` variable that sets nothing."""


def name(key: str) -> str:
    """The variable's full name: ``name("TFT_TAG")`` is ``PREMARKET_SERVICE_TFT_TAG``."""
    if key not in NAMES:
        raise KeyError(key)
    return PREFIX + key


def read(key: str, default: str | None = None, environ: Mapping[str, str] | None = None):
    """The value of ``PREMARKET_SERVICE_<key>``, else of its old name (logged once as
    deprecated), else ``default``."""
    environ = os.environ if environ is None else environ
    if (value := environ.get(name(key))) is not None:
        return value
    old = RENAMED.get(key)
    if old is not None and (value := environ.get(old)) is not None:
        if old not in _warned:
            _warned.add(old)
            log.warning("%s is deprecated: set %s instead", old, name(key))
        return value
    return default


def check(environ: Mapping[str, str] | None = None) -> None:
    """Refuse a ``PREMARKET_SERVICE_*`` variable that sets nothing, naming the likely one."""
    import difflib

    environ = os.environ if environ is None else environ
    known = {name(k) for k in NAMES}
    unknown = sorted(k for k in environ if k.upper().startswith(PREFIX) and k not in known)
    if unknown:
        hints = []
        for bad in unknown:
            close = difflib.get_close_matches(bad.upper(), known, n=1)
            hints.append(f"{bad} (did you mean {close[0]}?)" if close else bad)
        raise UnknownServiceVariable(f"unknown service variable(s): {', '.join(hints)}")
