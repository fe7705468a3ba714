"""The attester: signs the public-chain headers that carry messages to the consortium and puts
them into the consortium's ``AttestedHeaderStore`` (docs/relayer.md §6).

Each consortium member runs one against its own public-chain node: what it signs is what its
node shows as final under the chain's policy, its header hash recomputed from the fields (never
the node's word). Before a signature is used it is recorded in the store, keyed by height: a
second, different header at a recorded height is refused (``ConflictingSignature``, fatal: the
worker stops loudly) so the attester never equivocates, also across restarts. Attestations are
incremental (``attest``): the store accepts the header once the threshold is reached, whoever
relays the last one.
"""

from __future__ import annotations

import logging

from adapters.base import CallReverted
from adapters.contracts import AttestedHeaderStoreView
from adapters.errors import RpcResponseInvalid, TransactionFailed
from adapters.signer import LocalSigner
from adapters.types import ChainId, Hash32, Height
from gateway.domain.typed_data import HeaderData, attested_header_message, digest
from gateway.store import Store
from relayers.metrics import RelayMetrics
from relayers.routes import ChainSide
from relayers.sending import Sender, reverted_with
from relayers.watcher import message_sent_query, next_range

__all__ = ["HeaderAttester"]

log = logging.getLogger(__name__)


class HeaderAttester:
    """Attest the final blocks of ``public`` that hold messages for ``consortium_chain_id``."""

    def __init__(
        self,
        *,
        public: ChainSide,
        consortium_chain_id: ChainId,
        header_store: AttestedHeaderStoreView,
        signer: LocalSigner,
        sender: Sender,
        store: Store,
        log_range: int,
        interval_s: float,
        metrics: RelayMetrics,
    ) -> None:
        self._metrics = metrics
        self._public = public
        self._consortium_chain_id = consortium_chain_id
        self._header_store = header_store
        self._signer = signer
        self._sender = sender
        self._store = store
        self._log_range = log_range
        self._interval_s = interval_s
        # Per signer and header store, within the store's 64 characters (the checkpoint is
        # per public chain already): the signer in full, the header store by its first bytes.
        self.stream = f"attest:0x{signer.address.hex()}:{header_store.address.hex()[:12]}"
        self._query = message_sent_query(public.endpoint, [consortium_chain_id])

    @property
    def name(self) -> str:
        return f"attest:{self._public.name}:0x{self._signer.address.hex()[:8]}"

    @property
    def interval_s(self) -> float:
        return self._interval_s

    async def step(self) -> bool:
        public = self._public
        scan = await next_range(self._store, public, self.stream, self._log_range)
        if scan is None:
            return False
        events = await public.adapter.events(self._query, scan.start, scan.end)
        for number, block_hash in sorted({(e.block_number, e.block_hash) for e in events}):
            await self._attest(number, block_hash)
        new = await scan.checkpoint(public)
        await self._store.record_scan(public.chain_id, self.stream, scan.previous, new, [])
        labels = {"chain": public.name, "attester": "0x" + self._signer.address.hex()}
        self._metrics.attester_height.labels(**labels).set(scan.end)
        self._metrics.attester_lag.labels(**labels).set(max(scan.final - scan.end, 0))
        return scan.end < scan.final

    async def _attest(self, number: Height, block_hash: Hash32) -> None:
        adapter = self._public.adapter
        header = await adapter.header(number)
        if adapter.block_hash(header) != block_hash:
            raise RpcResponseInvalid(
                "the node's final block differs from the block of its own logs",
                chain_id=self._public.chain_id,
                height=number,
            )
        data: HeaderData = (
            self._public.chain_id,
            number,
            block_hash,
            header.receipts_root,
            header.state_root,
        )
        message = attested_header_message(
            self._consortium_chain_id, self._header_store.address, data
        )
        record = await self._store.record_signature(
            self._consortium_chain_id,
            self._public.chain_id,
            number,
            block_hash,
            Hash32(digest(message)),
            self._signer.sign_message(message),
            attester=self._signer.address,
        )
        if await self._done(data, block_hash):
            return
        try:
            receipt = await self._sender.send(
                self._header_store.attest(data, record.signature),
                purpose="attest",
                refs=(str(number),),
            )
        except CallReverted as exc:
            if reverted_with(exc, "HeaderAlreadyAccepted", "DuplicateAttestation"):
                return
            raise
        except TransactionFailed:
            # Reverted on chain after a good simulation: another attestation reached the
            # threshold (or ours was relayed by someone else) in between.
            if await self._done(data, block_hash):
                return
            raise
        await self._store.mark_signature_submitted(
            self._consortium_chain_id,
            self._public.chain_id,
            number,
            receipt.tx_hash,
            attester=self._signer.address,
        )
        log.info(
            "%s: attested block %d of %s",
            self.name,
            number,
            self._public.name,
            extra={"chain": self._public.name},
        )

    async def _done(self, data: HeaderData, block_hash: Hash32) -> bool:
        """The header is accepted, or our attestation of it is on chain."""
        return await self._header_store.is_accepted(
            self._public.chain_id, block_hash
        ) or await self._header_store.has_attested(data, self._signer.address)
