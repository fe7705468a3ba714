"""Swaps get a ``reason``: what the HTLC keeper refuses or cannot do for the swap as of its
last decision (unsafe timelocks, no authorisation, a reverting claim ...), NULL when nothing is
in its way. Before, the keeper only logged it and kept it in memory.

Existing swaps start without a reason (the keeper writes one at its next decision if it has
one); a downgrade drops the column and the reasons with it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("swaps") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("swaps") as batch:
        batch.drop_column("reason")
