"""Paper orders filled at the next open, and live/replay marks on forecasts and scores.

Revision ID: 0003
Revises: 0002

``paper_orders`` holds the orders a run queued until the first bar after it fills them (a run
before the open cannot trade at the close it saw). ``mode`` tells live mornings from replays, so
accuracy and paper trading count live runs by default; rows from before are live.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_orders",
        sa.Column("symbol", sa.String(16), primary_key=True),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("run_id", sa.String(80), nullable=False),
    )
    for table in ("forecasts", "forecast_scores"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("mode", sa.String(8), nullable=False, server_default="live"))


def downgrade() -> None:
    for table in ("forecast_scores", "forecasts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("mode")
    op.drop_table("paper_orders")
