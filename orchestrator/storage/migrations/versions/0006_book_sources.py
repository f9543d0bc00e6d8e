"""Each book (the paper book, the accuracy ledger of each mode) records the runs it holds and
where its bars come from, so a later update cannot mix Yahoo closes into a book marked with an
offline file, or replays into a live book.

Revision ID: 0006
Revises: 0005

Books from before have no row: their next update records its runs and source.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "book_sources",
        sa.Column("book", sa.String(32), primary_key=True),
        sa.Column("runs", sa.String(16), nullable=False),
        sa.Column("source", sa.String(400), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("book_sources")
