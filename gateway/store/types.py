"""Column types that behave the same on SQLite and PostgreSQL.

- ``Uint256``: on-chain uint256 values (amounts, token ids, fees). PostgreSQL has
  NUMERIC(78, 0), exact for every uint256. SQLite has no such type: a NUMERIC column turns
  integers above 2**63 into lossy REALs, so there the value is a decimal string (VARCHAR(78),
  TEXT affinity, never converted). Equality works on both; nothing orders by these columns.
- ``UtcDateTime``: aware UTC datetimes in and out. PostgreSQL stores TIMESTAMP WITH TIME ZONE;
  SQLite stores naive UTC text in one fixed format, so comparing columns in SQL (lease expiry)
  orders correctly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["UINT256_MAX", "Uint256", "UtcDateTime"]

UINT256_MAX = 2**256 - 1


class Uint256(TypeDecorator[int]):
    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0, asdecimal=True))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
            raise ValueError(f"not a uint256: {value!r}")
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store takes aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
