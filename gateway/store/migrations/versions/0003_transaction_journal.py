"""The transactions table becomes the signers' journal of ``adapters.rpc.submit.TxJournal``:
each entry keeps the transaction itself (to, value, data) and every attempt's signed bytes, so
a restarted writer re-broadcasts instead of guessing; an entry closes with its outcome (mined
with the receipt's facts, refused by the node, or its nonce taken by another transaction), and
a refused nonce is used again by a new entry, hence a row id instead of the (chain, sender,
nonce) key.

No version that wrote the 0001 table was released (nothing used it), so its rows are not carried
over: the table is replaced, and a downgrade replaces it back, empty.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BYTES = sa.LargeBinary()
TIME = sa.DateTime(timezone=True)
UINT256 = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_index("ix_transactions_open", table_name="transactions")
    op.drop_table("transactions")
    op.create_table(
        "transactions",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", BYTES, nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("to_address", BYTES, nullable=True),
        sa.Column("value", UINT256, nullable=False),
        sa.Column("data", BYTES, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("refs", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mined_tx_hash", BYTES, nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", BYTES, nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("effective_gas_price", UINT256, nullable=True),
        sa.Column("receipt_status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
    )
    op.create_index("ix_transactions_key", "transactions", ["chain_id", "sender", "nonce"])
    op.create_index("ix_transactions_open", "transactions", ["chain_id", "sender", "state"])


def downgrade() -> None:
    op.drop_index("ix_transactions_open", table_name="transactions")
    op.drop_index("ix_transactions_key", table_name="transactions")
    op.drop_table("transactions")
    op.create_table(
        "transactions",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sender", BYTES, nullable=False),
        sa.Column("nonce", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("refs", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Text(), nullable=False),
        sa.Column("raw", BYTES, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mined_tx_hash", BYTES, nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("effective_gas_price", UINT256, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "sender", "nonce", name="pk_transactions"),
    )
    op.create_index("ix_transactions_open", "transactions", ["chain_id", "sender", "state"])
