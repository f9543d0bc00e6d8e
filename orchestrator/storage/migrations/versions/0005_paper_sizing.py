"""Paper trading sizes positions by today's risk, pays costs, and marks each symbol apart;
runs say whether they are live or replays.

Revision ID: 0005
Revises: 0004

``paper.sizing = "risk"`` sizes a new position to ``equity * risk_per_trade_pct / sigma_oc``
(capped by ``max_position_pct``), so a queued order keeps its signal's ``sigma_oc`` until it
fills, and ``sizing`` (``risk`` or ``fixed``) is kept on the order, the position and the trade.
Positions and trades from before were all sized ``fixed``; orders from before have neither
(no ``sigma_oc``: they fill ``fixed``). Fills pay ``paper.cost_bps``: a position keeps its
``entry_cost``, a trade its ``costs`` (0 for those from before). ``paper_marks`` keeps, per
symbol, the last date whose bar is in the book (the account's single ``marked_through`` stays
as the default for symbols without a row). ``runs.mode`` copies each document's mode (a
document from before modes was a replay when it was offline), so "latest" can mean the latest
live run without reading every document.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("mode", sa.String(8), nullable=False, server_default="live"))
    runs = sa.table("runs", sa.column("run_id", sa.String), sa.column("document", sa.JSON),
                    sa.column("mode", sa.String))  # fmt: skip
    connection = op.get_bind()
    for run_id, document in connection.execute(sa.select(runs.c.run_id, runs.c.document)):
        mode = document.get("mode") or ("replay" if document.get("offline") else "live")
        if mode != "live":
            connection.execute(runs.update().where(runs.c.run_id == run_id).values(mode=mode))
    op.create_table(
        "paper_marks",
        sa.Column("symbol", sa.String(16), primary_key=True),
        sa.Column("marked_through", sa.Date, nullable=False),
    )
    with op.batch_alter_table("paper_positions") as batch:
        batch.add_column(sa.Column("entry_cost", sa.Float, nullable=False, server_default="0"))
    with op.batch_alter_table("paper_trades") as batch:
        batch.add_column(sa.Column("costs", sa.Float, nullable=False, server_default="0"))
    with op.batch_alter_table("paper_orders") as batch:
        batch.add_column(sa.Column("sigma_oc", sa.Float, nullable=True))
        batch.add_column(sa.Column("sizing", sa.String(8), nullable=True))
    for table in ("paper_positions", "paper_trades"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("sizing", sa.String(8), nullable=False, server_default="fixed")
            )


def downgrade() -> None:
    with op.batch_alter_table("paper_trades") as batch:
        batch.drop_column("costs")
    with op.batch_alter_table("paper_positions") as batch:
        batch.drop_column("entry_cost")
    op.drop_table("paper_marks")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("mode")
    for table in ("paper_trades", "paper_positions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sizing")
    with op.batch_alter_table("paper_orders") as batch:
        batch.drop_column("sizing")
        batch.drop_column("sigma_oc")
