"""Running the results API: uvicorn with a deadline for request headers and a log that a flood
of one error cannot fill (issue 33 M5: 250 dripping connections were held for 53 s+, and with a
low open-file limit 215,014 "Too many open files" tracebacks were written in 55 s)."""

from __future__ import annotations

from orchestrator.api.guard import access_log_config
from premarket.http_server import HeaderDeadline
from premarket.settings import Settings


class ApiHeaderDeadline(HeaderDeadline):
    """Request headers must arrive within ``api.read_timeout_s`` (408 ``{"error", "field"}``)."""


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    from orchestrator.api.app import create_app

    ApiHeaderDeadline.timeout_s = settings.api.read_timeout_s
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        http=ApiHeaderDeadline,
        log_level="info",
        log_config=access_log_config(),
    )
