"""The devnet transaction pool: validated transactions waiting for the next block.

Transactions keep their arrival order; a block takes, in that order, each sender's next nonce
whose fee covers the block's base fee, until the block gas limit. Future nonces wait.
"""

from __future__ import annotations

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


class TxPool:
    def __init__(self) -> None:
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
        self._cost_by_sender[ptx.sender] = self._cost_by_sender.get(ptx.sender, 0) + ptx.cost
        self._by_sender_nonce[(ptx.sender, ptx.nonce)] = ptx.hash

    def remove(self, tx_hash: bytes) -> None:
        ptx = self._by_hash.pop(tx_hash, None)
        if ptx is None:
            return
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

    def select(
        self, state_nonce: Callable[[bytes], int], base_fee: int, gas_limit: int
    ) -> tuple[list[PoolTx], list[PoolTx]]:
        """(executable transactions in order, stale ones to drop) for a block."""
        expected: dict[bytes, int] = {}
        chosen: list[PoolTx] = []
        chosen_hashes: set[bytes] = set()
        stale: list[PoolTx] = []
        blocked: set[bytes] = set()
        gas = 0
        progress = True
        while progress:
            progress = False
            for ptx in self._by_hash.values():
                if ptx.hash in chosen_hashes or ptx.sender in blocked:
                    continue
                want = expected.get(ptx.sender)
                if want is None:
                    want = expected[ptx.sender] = state_nonce(ptx.sender)
                if ptx.nonce < want:
                    if ptx not in stale:
                        stale.append(ptx)
                    continue
                if ptx.nonce > want:
                    continue  # a gap: may be filled by a later arrival in this pass
                if ptx.max_fee < base_fee or gas + ptx.gas > gas_limit:
                    blocked.add(ptx.sender)  # keeps its later nonces out of this block too
                    continue
                chosen.append(ptx)
                chosen_hashes.add(ptx.hash)
                expected[ptx.sender] = want + 1
                gas += ptx.gas
                progress = True
        return chosen, stale
