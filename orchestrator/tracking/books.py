"""One source of bars per book: a paper book or an accuracy ledger never mixes two.

``premarket paper --replays`` without ``--offline`` once fetched Yahoo bars for 2022 dates and
rewrote orders that an offline update had queued; a later offline update then booked other
fills. Each book now records, at its first update, the runs it holds (live or replay) and where
its bars come from (``MarketData.source``: Yahoo, or one price file). An update that would use
other runs or another source is refused with one line saying what the book holds; a book with
nothing in it yet takes the new source.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from orchestrator.storage.tables import book_sources


class MixedBooks(ValueError):
    """An update that would put other runs or other bars into a book."""


def claim(conn: Connection, book: str, runs: str, source: str, *, started: bool) -> None:
    """Record ``runs`` and ``source`` for ``book``, or refuse them when the book has entries
    (``started``) that came from other runs or another source."""
    row = conn.execute(select(book_sources).where(book_sources.c.book == book)).first()
    if row is None:
        conn.execute(insert(book_sources).values(book=book, runs=runs, source=source))
        return
    if (row.runs, row.source) == (runs, source):
        return
    if started:
        raise MixedBooks(
            f"the {book} book holds {row.runs} runs with bars from {row.source}; this update "
            f"would add {runs} runs with bars from {source}: refused (one book, one source). "
            f"Use the same source, or another database (PREMARKET_DATABASE_URL)"
        )
    conn.execute(
        update(book_sources).where(book_sources.c.book == book).values(runs=runs, source=source)
    )


def forget(conn: Connection, book: str) -> None:
    """The book was emptied: its next update records its own source."""
    conn.execute(book_sources.delete().where(book_sources.c.book == book))
