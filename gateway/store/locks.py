"""The ``Store``'s named locks: leases with fencing tokens (docs/relayer.md §2)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update

from gateway.domain.status import LockLease
from gateway.store.base import StoreBase, _check_owner, _locks
from gateway.store.errors import StoreError

__all__ = ["LocksMixin"]


class LocksMixin(StoreBase):
    """Named locks."""

    # --- named locks --------------------------------------------------------------------------

    async def acquire_lock(
        self, name: str, owner: str, lease_s: float, *, now: datetime | None = None
    ) -> LockLease | None:
        """Take the lock ``name`` for ``lease_s`` seconds if it is free or its lease expired, or
        renew it if ``owner`` holds it; None while someone else holds it. The fencing token
        grows by one whenever the holder changes (including re-taking after a release)."""
        _check_owner(owner)
        if lease_s <= 0:
            raise StoreError("lease_s must be > 0", lease_s=lease_s)
        at = self._now(now)
        until = at + timedelta(seconds=lease_s)
        lk = _locks.c
        async with self._tx("acquire_lock") as conn:
            created = await conn.execute(
                self._insert(_locks)
                .values(name=name, owner=owner, lease_until=until, fencing_token=1, updated_at=at)
                .on_conflict_do_nothing(index_elements=[lk.name])
                .returning(lk.fencing_token)
            )
            if created.first() is not None:
                return LockLease(name, owner, until, 1)
            token = (
                await conn.execute(
                    update(_locks)
                    .where(
                        lk.name == name,
                        or_(lk.owner == owner, lk.owner.is_(None), lk.lease_until <= at),
                    )
                    .values(
                        owner=owner,
                        lease_until=until,
                        updated_at=at,
                        # SET sees the old row: the token moves only when the holder changes.
                        fencing_token=case(
                            (lk.owner == owner, lk.fencing_token), else_=lk.fencing_token + 1
                        ),
                    )
                    .returning(lk.fencing_token)
                )
            ).scalar_one_or_none()
        return None if token is None else LockLease(name, owner, until, int(token))

    async def lock(self, name: str) -> LockLease | None:
        """Who holds the lock ``name`` (possibly with an expired lease nobody took over yet);
        None when nobody does."""
        async with self._tx("lock", write=False) as conn:
            row = (await conn.execute(select(_locks).where(_locks.c.name == name))).first()
        if row is None or row.owner is None:
            return None
        return LockLease(row.name, row.owner, row.lease_until, int(row.fencing_token))

    async def locks(self, prefix: str = "") -> list[LockLease]:
        """Every held lock whose name starts with ``prefix``, by name (a lease may have
        expired without anyone taking the lock over yet: compare ``lease_until``)."""
        lk = _locks.c
        query = select(_locks).where(lk.owner.is_not(None)).order_by(lk.name)
        if prefix:
            query = query.where(lk.name.startswith(prefix, autoescape=True))
        async with self._tx("locks", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [
            LockLease(row.name, row.owner, row.lease_until, int(row.fencing_token)) for row in rows
        ]

    async def release_lock(self, name: str, owner: str) -> bool:
        """Give up ``owner``'s lock; False if ``owner`` did not hold it."""
        async with self._tx("release_lock") as conn:
            result = await conn.execute(
                update(_locks)
                .where(_locks.c.name == name, _locks.c.owner == owner)
                .values(owner=None, lease_until=None)
                .returning(_locks.c.name)
            )
            return result.first() is not None
