"""Attester signatures are kept per attester: several consortium members may share one store
(``xgate run`` with several attester signers), and each signs at most one header per height.

The primary key becomes (store_chain_id, src_chain_id, attester, number). Rows written before
cannot be attributed to an attester; they are kept under the zero address, and downgrading
keeps one row per (store chain, source chain, height): the one signed first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UNKNOWN_ATTESTER = b"\x00" * 20


def upgrade() -> None:
    with op.batch_alter_table("attester_signatures") as batch:
        batch.add_column(sa.Column("attester", sa.LargeBinary(), nullable=True))
    op.execute(
        sa.text("UPDATE attester_signatures SET attester = :zero").bindparams(
            sa.bindparam("zero", _UNKNOWN_ATTESTER, type_=sa.LargeBinary())
        )
    )
    with op.batch_alter_table("attester_signatures") as batch:
        batch.alter_column("attester", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_constraint("pk_attester_signatures", type_="primary")
        batch.create_primary_key(
            "pk_attester_signatures", ["store_chain_id", "src_chain_id", "attester", "number"]
        )


def downgrade() -> None:
    # One row per old key survives: the earliest signature at each height.
    op.execute(
        sa.text(
            "DELETE FROM attester_signatures WHERE EXISTS (SELECT 1 FROM attester_signatures AS o"
            " WHERE o.store_chain_id = attester_signatures.store_chain_id"
            " AND o.src_chain_id = attester_signatures.src_chain_id"
            " AND o.number = attester_signatures.number"
            " AND (o.signed_at < attester_signatures.signed_at"
            " OR (o.signed_at = attester_signatures.signed_at"
            " AND o.attester < attester_signatures.attester)))"
        )
    )
    with op.batch_alter_table("attester_signatures") as batch:
        batch.drop_constraint("pk_attester_signatures", type_="primary")
        batch.create_primary_key(
            "pk_attester_signatures", ["store_chain_id", "src_chain_id", "number"]
        )
        batch.drop_column("attester")
