"""``premarket dashboard --screenshot FILE``: a PNG of the dashboard, as ``premarket serve`` shows it.

Serves the results API on a free loopback port for the moment it takes, and has headless
Chromium (``api.browser``) save the page once its charts are drawn. ``make demo`` calls it after
its run, for ``demo-output/dashboard.png``. To look at the dashboard live: ``premarket serve``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--screenshot", type=Path, metavar="FILE", required=True, help="Write a PNG here."
    )
    parser.add_argument("--phone", action="store_true", help="A phone-sized page (390 px wide).")


def run(args: argparse.Namespace) -> int:
    from orchestrator.api.app import create_app
    from orchestrator.api.browser import DESKTOP, PHONE, screenshot, serving
    from premarket.settings import load_settings

    if args.screenshot.suffix.lower() != ".png":
        raise ValueError(f"--screenshot: {args.screenshot} must end in .png")
    app = create_app(load_settings())
    with serving(app) as url:
        screenshot(url + "/", args.screenshot, PHONE if args.phone else DESKTOP)
    print(f"dashboard saved to {args.screenshot}")
    return 0
