"""Slot claims: one row per (business date, slot), inserted before a scheduled run starts.

Revision ID: 0002
Revises: 0001

The primary key makes the claim atomic on both backends: of two schedulers inserting the same
slot, one gets an integrity error and skips. ``heartbeat_at`` lets a claim whose owner died
expire (see ``orchestrator.storage.slots``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slot_claims",
        sa.Column("business_date", sa.Date, primary_key=True),
        sa.Column("slot", sa.String(16), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slot_claims")
