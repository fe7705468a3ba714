"""Run the store's Alembic migrations from code: no alembic.ini, the scripts ship in the package.

Synchronous (Alembic is): ``Store.open`` calls ``upgrade`` in a worker thread, ``xgate db``
calls these directly. Every function takes the store URL as configured (``sqlite:///...`` or
``postgresql://...``).

On PostgreSQL an upgrade or downgrade holds a transaction-scoped advisory lock, so relayer
processes starting together migrate one after the other instead of racing to create tables;
on SQLite the transaction begins IMMEDIATE, which does the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from adapters.errors import XgateError
from gateway.store.db import StoreUrl, parse_store_url, sync_engine
from gateway.store.errors import StoreError, StoreUnavailable
from gateway.store.models import metadata

__all__ = [
    "MIGRATIONS_DIR",
    "check_models_match",
    "current",
    "downgrade",
    "head",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: "xgate" in ASCII, so it is recognisable in pg_locks.
_MIGRATION_LOCK = 0x7867617465


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head() -> str:
    """The newest revision of the shipped migrations."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None  # there is a first revision
    return revision


@contextmanager
def _connection(url: str | StoreUrl, op: str, *, lock: bool) -> Iterator[Connection]:
    parsed = url if isinstance(url, StoreUrl) else parse_store_url(url)
    engine = sync_engine(parsed)
    try:
        with engine.begin() as conn:
            if lock and parsed.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            yield conn
    except XgateError:
        raise
    except CommandError as exc:
        # An unknown revision, or a downgrade past what the database holds.
        raise StoreError("migration refused", op=op, url=parsed.shown, reason=str(exc)) from exc
    except SQLAlchemyError as exc:
        if _is_connection_error(exc):
            raise StoreUnavailable(
                "database unavailable",
                op=op,
                url=parsed.shown,
                reason=str(getattr(exc, "orig", None) or exc),
            ) from exc
        raise StoreError("migration failed", op=op, url=parsed.shown, reason=str(exc)) from exc
    finally:
        engine.dispose()


def _is_connection_error(exc: SQLAlchemyError) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def _run(url: str | StoreUrl, op: str, action: Callable[[Config], Any]) -> None:
    with _connection(url, op, lock=True) as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        action(cfg)


def upgrade(url: str | StoreUrl, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (all of it or nothing)."""
    _run(url, "upgrade", lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str | StoreUrl, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"``: drop every table of the store)."""
    _run(url, "downgrade", lambda cfg: command.downgrade(cfg, revision))


def current(url: str | StoreUrl) -> str | None:
    """The database's revision, None for an empty (never migrated) database."""
    with _connection(url, "current", lock=False) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_models_match(url: str | StoreUrl) -> list[str]:
    """Differences between the models and the database's schema, one line each; empty when the
    migrations create exactly what the models describe (run it on a database at head)."""
    with _connection(url, "check", lock=False) as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = [_describe(diff) for diff in compare_metadata(context, metadata)]
        return differences + _primary_key_differences(conn)


def _primary_key_differences(conn: Connection) -> list[str]:
    """Alembic's comparison leaves primary keys out; the store's keys carry its rules (one
    signature per attester and height), so they are compared here."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    differences = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        model = [column.name for column in table.primary_key.columns]
        found = inspector.get_pk_constraint(table.name).get("constrained_columns") or []
        if found != model:
            differences.append(
                f"change_primary_key: {table.name} ({', '.join(found)}) -> ({', '.join(model)})"
            )
    return differences


def _describe(diff: Any) -> str:
    # compare_metadata yields tuples ("add_table", Table) or, for column changes, lists of them.
    if isinstance(diff, list):
        return "; ".join(_describe(d) for d in diff)
    kind, *details = diff
    # Column diffs carry (schema, table, column, ...): the schema is None for the default one.
    return f"{kind}: " + ", ".join(_show(d) for d in details if d is not None)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    name = getattr(value, "name", None)
    table = getattr(value, "table", None)
    if name is not None and table is not None and getattr(table, "name", None):
        return f"{table.name}.{name}"
    if name is not None:
        return str(name)
    return repr(value)
