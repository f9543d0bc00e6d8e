"""``premarket db upgrade | current``: the schema of the configured database (alembic).

``upgrade`` brings the database (``PREMARKET_DATABASE_URL`` / ``database_url``) to the newest
revision; it is safe to run any number of times, also from several hosts at once. ``current``
says which revision the database is at. The URL is printed without its password.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("upgrade", help="Upgrade the schema to the newest revision.")
    sub.add_parser("current", help="Print the schema revision of the database.")


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from orchestrator.storage.engine import make_engine
    from orchestrator.storage.migrate import UPGRADE_COMMAND, current_revision, head_revision
    from orchestrator.storage.migrate import upgrade as upgrade_schema
    from premarket.settings import load_settings

    url = load_settings().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    head = head_revision()
    if args.action == "upgrade":
        before, after = upgrade_schema(url)
        change = f"already at {after}" if before == after else f"{before or 'empty'} -> {after}"
        print(f"{shown}: {change} (newest: {head})")
        return 0
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current == head:
        print(f"{shown}: {current} (newest)")
    else:
        print(f"{shown}: {current or 'no revision'}; newest is {head}: run `{UPGRADE_COMMAND}`")
    return 0
