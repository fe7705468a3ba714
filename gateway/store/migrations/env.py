"""Alembic environment: runs the migrations on the connection ``gateway.store.migrate`` passes.

``migrate`` opens the connection, takes the migration lock and owns the transaction, so every
revision of one upgrade commits or rolls back together. ``render_as_batch`` lets SQLite alter
tables (it copies them), the same scripts run unchanged on PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from gateway.store.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations through gateway.store.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
