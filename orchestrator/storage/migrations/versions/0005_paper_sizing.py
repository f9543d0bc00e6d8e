"""Paper trading sizes positions by today's risk; orders, positions and trades say how.

Revision ID: 0005
Revises: 0004

``paper.sizing = "risk"`` sizes a new position to ``equity * risk_per_trade_pct / sigma_oc``
(capped by ``max_position_pct``), so a queued order keeps its signal's ``sigma_oc`` until it
fills, and ``sizing`` (``risk`` or ``fixed``) is kept on the order, the position and the trade.
Positions and trades from before were all sized ``fixed``; orders from before have neither
(no ``sigma_oc``: they fill ``fixed``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("paper_orders") as batch:
        batch.add_column(sa.Column("sigma_oc", sa.Float, nullable=True))
        batch.add_column(sa.Column("sizing", sa.String(8), nullable=True))
    for table in ("paper_positions", "paper_trades"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("sizing", sa.String(8), nullable=False, server_default="fixed")
            )


def downgrade() -> None:
    for table in ("paper_trades", "paper_positions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sizing")
    with op.batch_alter_table("paper_orders") as batch:
        batch.drop_column("sizing")
        batch.drop_column("sigma_oc")
