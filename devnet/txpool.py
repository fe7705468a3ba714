"""The devnet transaction pool: validated transactions waiting for the next block.

Transactions keep their arrival order; a block takes, earliest arrival first, each sender's
next nonce whose fee covers the block's base fee, until the block gas limit (a heap of each
sender's next transaction: n log n however the nonces arrived). Future nonces wait.

The pool holds at most ``max_txs`` transactions and ``max_bytes`` bytes of raw transactions.
When full, it makes room for a transaction its sender can execute next by evicting the newest
transactions that wait behind a nonce gap (they cannot be mined yet); it never evicts for a
gapped transaction, so gapped transactions cannot crowd out executable ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class PoolTx:
    tx: Any  # py-evm SignedTransactionAPI
    hash: bytes
    sender: bytes
    nonce: int
    gas: int
    max_fee: int
    max_priority_fee: int
    cost: int  # gas * max_fee + value: the most it can take from the sender
    size: int = 0  # bytes of the raw transaction


class TxPool:
    def __init__(self, max_txs: int = 4_096, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.bytes = 0
        self._by_hash: dict[bytes, PoolTx] = {}
        self._by_sender_nonce: dict[tuple[bytes, int], bytes] = {}
        self._cost_by_sender: dict[bytes, int] = {}
        # sender -> (first, next): nonces first..next-1 are all in the pool (saves a scan).
        self._runs: dict[bytes, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> PoolTx | None:
        return self._by_hash.get(tx_hash)

    def by_sender_nonce(self, sender: bytes, nonce: int) -> PoolTx | None:
        h = self._by_sender_nonce.get((sender, nonce))
        return None if h is None else self._by_hash[h]

    def add(self, ptx: PoolTx) -> None:
        old = self._by_sender_nonce.get((ptx.sender, ptx.nonce))
        if old is not None:
            self.remove(old)
        self._by_hash[ptx.hash] = ptx
        self.bytes += ptx.size
        self._cost_by_sender[ptx.sender] = self._cost_by_sender.get(ptx.sender, 0) + ptx.cost
        self._by_sender_nonce[(ptx.sender, ptx.nonce)] = ptx.hash

    def remove(self, tx_hash: bytes) -> None:
        ptx = self._by_hash.pop(tx_hash, None)
        if ptx is None:
            return
        self.bytes -= ptx.size
        self._runs.pop(ptx.sender, None)
        if self._by_sender_nonce.get((ptx.sender, ptx.nonce)) == tx_hash:
            del self._by_sender_nonce[(ptx.sender, ptx.nonce)]
        left = self._cost_by_sender.get(ptx.sender, 0) - ptx.cost
        if left > 0:
            self._cost_by_sender[ptx.sender] = left
        else:
            self._cost_by_sender.pop(ptx.sender, None)

    def __iter__(self) -> Iterator[PoolTx]:
        return iter(list(self._by_hash.values()))

    def next_nonce(self, sender: bytes, state_nonce: int) -> int:
        """The nonce after the sender's consecutive pool transactions starting at ``state_nonce``."""
        nonce = state_nonce
        run = self._runs.get(sender)
        if run is not None and run[0] <= state_nonce <= run[1]:
            nonce = run[1]
        while (sender, nonce) in self._by_sender_nonce:
            nonce += 1
        self._runs[sender] = (state_nonce, nonce)
        return nonce

    def pending_cost(self, sender: bytes) -> int:
        return self._cost_by_sender.get(sender, 0)

    def fits(self, size: int, replaced: PoolTx | None = None) -> bool:
        """Whether one more transaction of ``size`` bytes (replacing ``replaced``) fits."""
        if replaced is not None:
            return self.bytes - replaced.size + size <= self.max_bytes
        return len(self._by_hash) < self.max_txs and self.bytes + size <= self.max_bytes

    def evict_gapped(self, size: int, state_nonce: Callable[[bytes], int]) -> bool:
        """Evict the newest transactions waiting behind a nonce gap until one transaction of
        ``size`` bytes fits; False (nothing evicted) when even all of them would not do."""
        runs: dict[bytes, int] = {}
        gapped: list[PoolTx] = []
        for ptx in self._by_hash.values():
            run = runs.get(ptx.sender)
            if run is None:
                run = runs[ptx.sender] = self.next_nonce(ptx.sender, state_nonce(ptx.sender))
            if ptx.nonce > run:
                gapped.append(ptx)
        count, total = len(self._by_hash), self.bytes
        evict: list[PoolTx] = []
        for ptx in reversed(gapped):
            if count < self.max_txs and total + size <= self.max_bytes:
                break
            evict.append(ptx)
            count, total = count - 1, total - ptx.size
        if count >= self.max_txs or total + size > self.max_bytes:
            return False
        for ptx in evict:
            self.remove(ptx.hash)
        return True

    def select(
        self, state_nonce: Callable[[bytes], int], base_fee: int, gas_limit: int
    ) -> tuple[list[PoolTx], list[PoolTx]]:
        """(executable transactions in order, stale ones to drop) for a block."""
        stale: list[PoolTx] = []
        heap: list[tuple[int, PoolTx]] = []
        arrival: dict[bytes, int] = {}
        expected: dict[bytes, int] = {}
        for seq, ptx in enumerate(self._by_hash.values()):
            arrival[ptx.hash] = seq
            want = expected.get(ptx.sender)
            if want is None:
                want = expected[ptx.sender] = state_nonce(ptx.sender)
            if ptx.nonce < want:
                stale.append(ptx)
            elif ptx.nonce == want:
                heap.append((seq, ptx))
        heapq.heapify(heap)
        chosen: list[PoolTx] = []
        gas = 0
        while heap:
            _, ptx = heapq.heappop(heap)
            if ptx.max_fee < base_fee or gas + ptx.gas > gas_limit:
                continue  # its sender's later nonces stay out of this block too
            chosen.append(ptx)
            gas += ptx.gas
            following = self.by_sender_nonce(ptx.sender, ptx.nonce + 1)
            if following is not None:
                heapq.heappush(heap, (arrival[following.hash], following))
        return chosen, stale
