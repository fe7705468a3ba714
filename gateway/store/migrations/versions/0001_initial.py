"""The store's first tables: messages and their history, checkpoints, trust states, transactions,
attester signatures, swaps, locks and tracking ids.

Written out by hand, with the column types spelled as plain SQLAlchemy types (not the model's
TypeDecorators), so this revision keeps meaning what it meant when models change later.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BYTES = sa.LargeBinary()
TIME = sa.DateTime(timezone=True)
# uint256: exact NUMERIC on PostgreSQL; decimal text on SQLite, whose NUMERIC would round.
UINT256 = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
# SQLite autoincrements only an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets BIGSERIAL.
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OWNER = sa.String(200)
TRACKING_ID = sa.String(100)


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", BYTES, nullable=False),
        sa.Column("src_chain_id", sa.BigInteger(), nullable=False),
        sa.Column("dst_chain_id", sa.BigInteger(), nullable=False),
        sa.Column("src_endpoint", BYTES, nullable=False),
        sa.Column("dst_endpoint", BYTES, nullable=False),
        sa.Column("nonce", UINT256, nullable=False),
        sa.Column("sender", BYTES, nullable=False),
        sa.Column("receiver", BYTES, nullable=False),
        sa.Column("payload", BYTES, nullable=False),
        sa.Column("src_block_number", sa.BigInteger(), nullable=False),
        sa.Column("src_block_hash", BYTES, nullable=False),
        sa.Column("src_tx_hash", BYTES, nullable=False),
        sa.Column("src_tx_index", sa.Integer(), nullable=False),
        sa.Column("block_log_index", sa.Integer(), nullable=False),
        sa.Column("receipt_log_index", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("lease_owner", OWNER, nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("delivery_tx_hash", BYTES, nullable=True),
        sa.Column("delivery_block_number", sa.BigInteger(), nullable=True),
        sa.Column("tracking_id", TRACKING_ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index(
        "ix_messages_status_dst_next", "messages", ["status", "dst_chain_id", "next_attempt_at"]
    )
    op.create_index("ix_messages_src_tx", "messages", ["src_chain_id", "src_tx_hash"])

    op.create_table(
        "message_status_history",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("message_id", BYTES, nullable=False),
        sa.Column("old_status", sa.String(32), nullable=True),
        sa.Column("new_status", sa.String(32), nullable=False),
        sa.Column("owner", OWNER, nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("tx_hash", BYTES, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_message_status_history"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_message_status_history_message_id_messages",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_message_status_history_message_id", "message_status_history", ["message_id"]
    )

    op.create_table(
        "checkpoints",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", BYTES, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "stream", name="pk_checkpoints"),
    )

    op.create_table(
        "trust_states",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name="pk_trust_states"),
    )

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

    op.create_table(
        "attester_signatures",
        sa.Column("store_chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("src_chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block_hash", BYTES, nullable=False),
        sa.Column("digest", BYTES, nullable=False),
        sa.Column("signature", BYTES, nullable=False),
        sa.Column("signed_at", TIME, nullable=False),
        sa.Column("submitted_tx_hash", BYTES, nullable=True),
        sa.PrimaryKeyConstraint(
            "store_chain_id", "src_chain_id", "number", name="pk_attester_signatures"
        ),
    )

    leg_columns: list[sa.Column[Any]] = []
    for leg in ("initiator_leg", "participant_leg"):
        leg_columns += [
            sa.Column(f"{leg}_chain_id", sa.BigInteger(), nullable=False),
            sa.Column(f"{leg}_htlc", BYTES, nullable=False),
            sa.Column(f"{leg}_asset_kind", sa.String(16), nullable=False),
            sa.Column(f"{leg}_token", BYTES, nullable=False),
            sa.Column(f"{leg}_value", UINT256, nullable=False),
            sa.Column(f"{leg}_claimer", BYTES, nullable=False),
            sa.Column(f"{leg}_refunder", BYTES, nullable=False),
            sa.Column(f"{leg}_timelock", sa.BigInteger(), nullable=False),
            sa.Column(f"{leg}_lock_tx", BYTES, nullable=True),
            sa.Column(f"{leg}_claim_tx", BYTES, nullable=True),
            sa.Column(f"{leg}_refund_tx", BYTES, nullable=True),
        ]
    op.create_table(
        "swaps",
        sa.Column("swap_id", BYTES, nullable=False),
        sa.Column("hashlock", BYTES, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("initiator", BYTES, nullable=False),
        sa.Column("participant", BYTES, nullable=False),
        *leg_columns,
        sa.Column("preimage", BYTES, nullable=True),
        sa.Column("claim_signature", BYTES, nullable=True),
        sa.Column("claim_destination", BYTES, nullable=True),
        sa.Column("refund_authorised", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("swap_id", name="pk_swaps"),
    )
    op.create_index("ix_swaps_state", "swaps", ["state"])

    op.create_table(
        "locks",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner", OWNER, nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_locks"),
    )

    op.create_table(
        "tracking",
        sa.Column("tracking_id", TRACKING_ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", BYTES, nullable=True),
        sa.Column("src_chain_id", sa.BigInteger(), nullable=True),
        sa.Column("src_tx_hash", BYTES, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("tracking_id", name="pk_tracking"),
    )
    op.create_index("ix_tracking_src_tx", "tracking", ["src_chain_id", "src_tx_hash"])


def downgrade() -> None:
    op.drop_index("ix_tracking_src_tx", table_name="tracking")
    op.drop_table("tracking")
    op.drop_table("locks")
    op.drop_index("ix_swaps_state", table_name="swaps")
    op.drop_table("swaps")
    op.drop_table("attester_signatures")
    op.drop_index("ix_transactions_open", table_name="transactions")
    op.drop_table("transactions")
    op.drop_table("trust_states")
    op.drop_table("checkpoints")
    op.drop_index("ix_message_status_history_message_id", table_name="message_status_history")
    op.drop_table("message_status_history")
    op.drop_index("ix_messages_src_tx", table_name="messages")
    op.drop_index("ix_messages_status_dst_next", table_name="messages")
    op.drop_table("messages")
