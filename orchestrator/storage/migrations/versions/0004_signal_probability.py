"""The calibrated signal's probability on each forecast row, so accuracy can score the signal.

Revision ID: 0004
Revises: 0003

``probability_up`` is P(the business date's session closes above its open) as the signal stated
it (``premarket.target``); accuracy tracking scores it against that session (kind ``session``).
Rows from before, and original-rule signals, have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        batch.add_column(sa.Column("probability_up", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        batch.drop_column("probability_up")
