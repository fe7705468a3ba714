"""The gateway API's tables (docs/api.md §3, §4): the event log (``events``), API keys, the
nonces of signed requests, idempotent POSTs' answers, webhooks and their deliveries, and sealed
credit reports; and an index on messages (created_at, id) for the API's transfer list.

Existing messages and swaps get no events: the log starts with the first change after the
upgrade. A downgrade drops the tables and everything in them (keys included).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BYTES = sa.LargeBinary()
TIME = sa.DateTime(timezone=True)
# SQLite autoincrements only an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets BIGSERIAL.
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY_ID = sa.String(16)
OWNER = sa.String(200)


def upgrade() -> None:
    op.create_index("ix_messages_created_at_id", "messages", ["created_at", "id"])

    op.create_table(
        "events",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", BYTES, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )

    op.create_table(
        "api_keys",
        sa.Column("key_id", KEY_ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_sha256", BYTES, nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("ed25519_public_key", BYTES, nullable=True),
        sa.Column("rate_per_s", sa.Double(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )

    op.create_table(
        "request_nonces",
        sa.Column("key_id", KEY_ID, nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name="pk_request_nonces"),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.key_id"],
            name="fk_request_nonces_key_id_api_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"])

    op.create_table(
        "idempotency",
        sa.Column("key_id", KEY_ID, nullable=False),
        sa.Column("idem_key", sa.String(128), nullable=False),
        sa.Column("body_sha256", BYTES, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", BYTES, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key_id", "idem_key", name="pk_idempotency"),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.key_id"],
            name="fk_idempotency_key_id_api_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_idempotency_created_at", "idempotency", ["created_at"])

    op.create_table(
        "webhooks",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("key_id", KEY_ID, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("kinds", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("disabled_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.key_id"],
            name="fk_webhooks_key_id_api_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_webhooks_key_id", "webhooks", ["key_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("webhook_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", OWNER, nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", "event_id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name="fk_webhook_deliveries_webhook_id_webhooks",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name="fk_webhook_deliveries_event_id_events",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_state_next_at", "webhook_deliveries", ["state", "next_at"]
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])

    op.create_table(
        "credit_reports",
        sa.Column("attestation_id", BYTES, nullable=False),
        sa.Column("subject", BYTES, nullable=False),
        sa.Column("report_sha256", BYTES, nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("attestation_id", name="pk_credit_reports"),
    )
    op.create_index("ix_credit_reports_subject", "credit_reports", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_credit_reports_subject", table_name="credit_reports")
    op.drop_table("credit_reports")
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_state_next_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_key_id", table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index("ix_idempotency_created_at", table_name="idempotency")
    op.drop_table("idempotency")
    op.drop_index("ix_request_nonces_expires_at", table_name="request_nonces")
    op.drop_table("request_nonces")
    op.drop_table("api_keys")
    op.drop_table("events")
    op.drop_index("ix_messages_created_at_id", table_name="messages")
