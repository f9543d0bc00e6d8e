"""The ``premarket`` command.

Each subcommand lives in its own module, listed once in ``COMMANDS`` (name, module, help). A
command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` (the exit status).
Only the module of the command being run is imported, so ``premarket analyze`` never pays for
the imports of ``premarket serve`` or ``premarket backtest``.

Every error is one line on stderr and a non-zero exit status, never a stack trace.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from orchestrator.cli import exits

COMMANDS: list[tuple[str, str, str]] = [
    (
        "analyze",
        "orchestrator.cli.analyze",
        "Run the pre-market analysis once and print the signals.",
    ),
    ("replay", "orchestrator.cli.replay", "Replay past mornings offline; score and paper-trade."),
    ("backtest", "orchestrator.cli.backtest", "Walk-forward backtest of every forecast tier."),
    ("serve", "orchestrator.cli.serve", "Serve the results API (127.0.0.1:8000 by default)."),
    ("dashboard", "orchestrator.cli.dashboard", "Save a screenshot of the dashboard (PNG)."),
    ("schedule", "orchestrator.cli.schedule", "Run the pre-market slots (New York, NYSE days)."),
    ("crontab", "orchestrator.cli.crontab", "Print crontab lines or Kubernetes CronJobs."),
    ("paper", "orchestrator.cli.paper", "Update and report the paper-trading book."),
    ("accuracy", "orchestrator.cli.accuracy", "Score forecasts against later closes; chart."),
    ("db", "orchestrator.cli.db", "Upgrade the database schema, or print its revision."),
]


class OneLineParser(argparse.ArgumentParser):
    """argparse, with usage errors on one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> OneLineParser:
    """The parser; only ``command``'s module is imported to add its arguments."""
    parser = OneLineParser(
        prog="premarket", description="Self-hosted pre-market signals.", epilog=exits.HELP
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name, module, help_text in COMMANDS:
        command_parser = sub.add_parser(
            name, help=help_text, description=help_text, epilog=exits.HELP
        )
        if name == command:
            loaded = importlib.import_module(module)
            loaded.add_arguments(command_parser)
            command_parser.set_defaults(run=loaded.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from orchestrator.tracking.books import MixedBooks
    from premarket.settings import SettingsError

    argv = sys.argv[1:] if argv is None else argv
    names = {name for name, _, _ in COMMANDS}
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        args = build_parser(command if command in names else None).parse_args(argv)
        return int(args.run(args) or 0)
    except (SettingsError, exits.UsageError, MixedBooks) as exc:
        print(f"premarket: {exc}", file=sys.stderr)
        return exits.USAGE
    except KeyboardInterrupt:
        print("premarket: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a last resort: one line, never a stack trace
        print(f"premarket: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
