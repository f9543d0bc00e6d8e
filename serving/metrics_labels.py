"""``/metrics`` labels requests by route, not by path (issue 33 M9).

BentoML's traffic metrics label each request with its raw path, so 2,000 distinct valid
``/api/v1/models/org/<x>`` paths grew ``/metrics`` from 305 KB to 17.9 MB and the N-HITS
process from 205 to 415 MB: every new path is a new time series, kept for the process's life.
Here the metrics middleware sees the route's template (``/api/v1/models/{org}/{name}``), and
any path no route serves is one label, ``(unrouted)``; the app below it still gets the real
path. BentoML (pinned at 1.4.39) has no setting for this, so its middleware's ``__call__`` is
wrapped once, at import of a service module.
"""

from __future__ import annotations

import copy
import re

ROUTES = frozenset(
    {
        "/", "/predict", "/call", "/describe", "/health", "/livez", "/readyz", "/healthz",
        "/metrics", "/docs", "/docs.json", "/schema.json", "/forecast_batch", "/classify_batch",
    }
)  # fmt: skip
"""Paths served as they are: the services' own routes and BentoML's."""
TEMPLATES = (
    (re.compile(r"^/api/v1/models/[^/]+/[^/]+$"), "/api/v1/models/{org}/{name}"),
    (
        re.compile(r"^/api-inference/v1/models/[^/]+/[^/]+$"),
        "/api-inference/v1/models/{org}/{name}",
    ),
)
UNROUTED = "(unrouted)"


def route_label(path: str) -> str:
    """The label of ``path`` in ``/metrics``: itself, its route's template, or ``(unrouted)``."""
    if path in ROUTES:
        return path
    for pattern, template in TEMPLATES:
        if pattern.match(path):
            return template
    return UNROUTED


def label_by_route() -> None:
    """Make BentoML's traffic metrics middleware label by :func:`route_label` (idempotent)."""
    from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware as M

    if getattr(M, "labels_by_route", False):
        return
    original = M.__call__

    async def labelled(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        label = route_label(path)
        if scope["type"] != "http" or label == path:
            await original(self, scope, receive, send)
            return
        if not self._is_setup:
            self._setup()  # once, on the real middleware: its metrics are registered once
        inner = self.app

        async def with_real_path(_labelled_scope, receive_, send_) -> None:
            await inner(scope, receive_, send_)

        proxy = copy.copy(self)  # shares the metrics; only its app differs, per request
        proxy.app = with_real_path
        await original(proxy, {**scope, "path": label}, receive, send)

    M.__call__ = labelled
    M.labels_by_route = True
