"""``premarket serve``: the results API on ``settings.api`` (127.0.0.1:8000 by default)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="Address to listen on (default: settings.api.host).")
    parser.add_argument("--port", type=int, help="Port (default: settings.api.port).")


def run(args: argparse.Namespace) -> int:
    from orchestrator.api.server import serve
    from premarket.settings import load_settings

    settings = load_settings()
    if args.port is not None and not 1 <= args.port <= 65535:
        raise ValueError(f"--port: {args.port} is not a port number (1-65535)")
    serve(settings, args.host, args.port)
    return 0
