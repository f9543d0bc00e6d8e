"""The schema before migrations: runs, forecasts, sent alerts, forecast scores, paper book.

Revision ID: 0001
Revises: none

Databases made before migrations existed (``create_all``) already hold some of these tables, so
each table and its indexes are created only where missing; such a database then carries on from
this revision like a new one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _create(name: str, *columns: sa.Column, indexes: tuple[str, ...] = ()) -> None:
    if sa.inspect(op.get_bind()).has_table(name):
        return
    op.create_table(name, *columns)
    for column in indexes:
        op.create_index(op.f(f"ix_{name}_{column}"), name, [column])


def upgrade() -> None:
    _create(
        "runs",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("slot", sa.String(16)),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("as_of", sa.Date),
        sa.Column("document", sa.JSON, nullable=False),
        indexes=("business_date", "started_at"),
    )
    _create(
        "forecasts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("model_used", sa.String(40), nullable=False),
        sa.Column("current_price", sa.Float, nullable=False),
        sa.Column("predicted_price", sa.Float, nullable=False),
        sa.Column("p10", sa.Float),
        sa.Column("p50", sa.Float),
        sa.Column("p90", sa.Float),
        sa.Column("forecast_path", sa.JSON, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        indexes=("run_id", "business_date", "symbol"),
    )
    _create(
        "alerts_sent",
        sa.Column("business_date", sa.Date, primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("action", sa.String(32), primary_key=True),
        sa.Column("sent_at", sa.DateTime, nullable=False),
    )
    _create(
        "forecast_scores",
        sa.Column("forecast_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("target_date", sa.Date, nullable=False),
        sa.Column("predicted", sa.Float, nullable=False),
        sa.Column("realized", sa.Float, nullable=False),
        sa.Column("direction_hit", sa.Boolean, nullable=False),
        sa.Column("abs_pct_error", sa.Float, nullable=False),
        sa.Column("in_band", sa.Boolean),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        indexes=("symbol", "tier", "target_date"),
    )
    _create(
        "paper_account",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cash", sa.Float, nullable=False),
        sa.Column("marked_through", sa.Date),
    )
    _create(
        "paper_positions",
        sa.Column("symbol", sa.String(16), primary_key=True),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("entry_price", sa.Float, nullable=False),
        sa.Column("entry_date", sa.Date, nullable=False),
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("last_price", sa.Float, nullable=False),
        sa.Column("last_date", sa.Date),
    )
    _create(
        "paper_trades",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("entry_price", sa.Float, nullable=False),
        sa.Column("entry_date", sa.Date, nullable=False),
        sa.Column("exit_price", sa.Float, nullable=False),
        sa.Column("exit_date", sa.Date, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("pnl", sa.Float, nullable=False),
        sa.Column("return_pct", sa.Float, nullable=False),
        sa.Column("run_id", sa.String(80), nullable=False),
    )
    _create(
        "paper_equity",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("equity", sa.Float, nullable=False),
    )
    _create("paper_runs", sa.Column("run_id", sa.String(80), primary_key=True))


def downgrade() -> None:
    for name in (
        "paper_runs",
        "paper_equity",
        "paper_trades",
        "paper_positions",
        "paper_account",
        "forecast_scores",
        "alerts_sent",
        "forecasts",
        "runs",
    ):
        op.drop_table(name)
