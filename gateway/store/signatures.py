"""The ``Store``'s attester signatures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, select, update

from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.status import SignatureRecord
from gateway.store.base import StoreBase, _check_address, _check_int64
from gateway.store.errors import ConflictingSignature, NotFound
from gateway.store.models import metadata

__all__ = ["SignaturesMixin"]

_sigs: Table = metadata.tables["attester_signatures"]


class SignaturesMixin(StoreBase):
    """Attester signatures."""

    # --- attester signatures ------------------------------------------------------------------

    async def record_signature(
        self,
        store_chain_id: ChainId,
        src_chain_id: ChainId,
        number: Height,
        block_hash: Hash32,
        digest: Hash32,
        signature: bytes,
        *,
        attester: Address,
        now: datetime | None = None,
    ) -> SignatureRecord:
        """Record, before it is used, that ``attester`` signs ``block_hash`` at ``number``.

        The same header again returns the record already there (with its signature: submit
        that one). A different header (or digest) at a height ``attester`` already signed is
        ``ConflictingSignature`` and writes nothing: signing it would be equivocation. Other
        attesters sharing the store have their own records."""
        for value, field in ((store_chain_id, "store_chain_id"), (src_chain_id, "src_chain_id")):
            _check_int64(value, field)
        _check_int64(number, "number")
        _check_address(attester, "attester")
        at = self._now(now)
        s = _sigs.c
        async with self._tx("record_signature") as conn:
            created = await conn.execute(
                self._insert(_sigs)
                .values(
                    store_chain_id=store_chain_id,
                    src_chain_id=src_chain_id,
                    attester=attester,
                    number=number,
                    block_hash=block_hash,
                    digest=digest,
                    signature=signature,
                    signed_at=at,
                )
                .on_conflict_do_nothing(
                    index_elements=[s.store_chain_id, s.src_chain_id, s.attester, s.number]
                )
                .returning(*_sigs.c)
            )
            row = created.first()
            if row is not None:
                return _signature_record(row)
            row = (
                await conn.execute(
                    select(_sigs).where(
                        *_signature_key(store_chain_id, src_chain_id, attester, number)
                    )
                )
            ).one()
        existing = _signature_record(row)
        if existing.block_hash != block_hash or existing.digest != digest:
            raise ConflictingSignature(
                "attester already signed another header at this height",
                store_chain_id=store_chain_id,
                src_chain_id=src_chain_id,
                attester=attester,
                height=number,
                signed_hash=existing.block_hash,
                requested_hash=block_hash,
            )
        return existing

    async def mark_signature_submitted(
        self,
        store_chain_id: ChainId,
        src_chain_id: ChainId,
        number: Height,
        tx_hash: TxHash,
        *,
        attester: Address,
    ) -> SignatureRecord:
        """Note the transaction that submitted ``attester``'s signature at ``number``."""
        async with self._tx("mark_signature_submitted") as conn:
            row = (
                await conn.execute(
                    update(_sigs)
                    .where(*_signature_key(store_chain_id, src_chain_id, attester, number))
                    .values(submitted_tx_hash=tx_hash)
                    .returning(*_sigs.c)
                )
            ).first()
        if row is None:
            raise NotFound(
                "no signature recorded at this height",
                what="signature", store_chain_id=store_chain_id, src_chain_id=src_chain_id,
                attester=attester, height=number,
            )  # fmt: skip
        return _signature_record(row)

    async def signature(
        self, store_chain_id: ChainId, src_chain_id: ChainId, number: Height, *, attester: Address
    ) -> SignatureRecord | None:
        async with self._tx("signature", write=False) as conn:
            row = (
                await conn.execute(
                    select(_sigs).where(
                        *_signature_key(store_chain_id, src_chain_id, attester, number)
                    )
                )
            ).first()
        return None if row is None else _signature_record(row)


# --- value checks ------------------------------------------------------------------------------


def _signature_key(
    store_chain_id: ChainId, src_chain_id: ChainId, attester: Address, number: Height
) -> tuple[Any, ...]:
    s = _sigs.c
    return (
        s.store_chain_id == store_chain_id,
        s.src_chain_id == src_chain_id,
        s.attester == attester,
        s.number == number,
    )


# --- rows <-> records ----------------------------------------------------------------------------


def _signature_record(row: Row[Any]) -> SignatureRecord:
    return SignatureRecord(
        store_chain_id=ChainId(row.store_chain_id),
        src_chain_id=ChainId(row.src_chain_id),
        attester=Address(bytes(row.attester)),
        number=Height(row.number),
        block_hash=Hash32(bytes(row.block_hash)),
        digest=Hash32(bytes(row.digest)),
        signature=bytes(row.signature),
        signed_at=row.signed_at,
        submitted_tx_hash=(
            None if row.submitted_tx_hash is None else TxHash(bytes(row.submitted_tx_hash))
        ),
    )
