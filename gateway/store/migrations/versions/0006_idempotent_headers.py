"""Idempotent POSTs keep their answer's headers (``idempotency.response_headers``, a JSON
object), so a replay answers with the first answer's content type and headers; and the event
log gets an index on ``created_at``, to prune old events by time; swaps get one on
``hashlock``, which a proposal looks up (a hashlock is never used by two swaps). API keys get
``chain_account`` (nullable, 20 bytes): the EVM account a key acts as, which an ``issuer`` key
must have (keys made before keep NULL: their credit requests are refused until the operator
makes a bound key).

Answers stored before the upgrade keep NULL headers and replay as they did (a content type from
the status, no other header); a downgrade drops the column (the headers of stored answers with
it) and the index, and drops the keys' ``chain_account``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency") as batch:
        batch.add_column(sa.Column("response_headers", sa.Text(), nullable=True))
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_index("ix_swaps_hashlock", "swaps", ["hashlock"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("chain_account", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("chain_account")
    op.drop_index("ix_swaps_hashlock", table_name="swaps")
    op.drop_index("ix_events_created_at", table_name="events")
    with op.batch_alter_table("idempotency") as batch:
        batch.drop_column("response_headers")
