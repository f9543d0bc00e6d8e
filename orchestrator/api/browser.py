"""Headless Chromium for the dashboard: the screenshot of ``make demo`` and the browser tests.

Playwright drives the system's Chromium (Debian's ``chromium`` package, ``/usr/bin/chromium``;
``make test`` installs it when missing); ``playwright install`` and its downloaded browsers are
never used. The flags keep the browser off the network except for the page it is pointed at.
Playwright is a development dependency (the ``dev`` extra), imported only here.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_ENV = "PREMARKET_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    """The Chromium to drive: ``$PREMARKET_CHROMIUM``, else ``chromium`` on the PATH."""
    return (
        os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    )


@contextmanager
def browser() -> Iterator:
    """A Playwright ``Browser`` on the system Chromium; RuntimeError when there is none."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("Playwright is missing: pip install 'playwright>=1.45,<2'") from None
    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found: install the Debian package chromium")
    with sync_playwright() as pw:
        found = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield found
        finally:
            found.close()


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` under uvicorn in a thread on a free loopback port; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def screenshot(url: str, path: Path, viewport: dict | None = None) -> Path:
    """Save a full-page PNG of the dashboard at ``url`` once its charts are drawn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with browser() as found:
        page = found.new_page(viewport=viewport or DESKTOP)
        page.goto(url, wait_until="load")
        charts = page.locator("[data-chart]").count()
        page.wait_for_function(
            "n => document.querySelectorAll('[data-chart] canvas').length >= n", arg=charts
        )
        page.screenshot(path=str(path), full_page=True)
    return path
