"""Alembic migrations of the store, run by ``gateway.store.migrate`` (no alembic.ini)."""
