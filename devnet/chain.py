"""The devnet chain: py-evm execution, QBFT sealing, transaction pool, votes and allowlist.

Everything here is synchronous and has one writer at a time: ``devnet.server`` seals blocks
on its producer thread and runs the other changes (pool, votes, allowlist, clock) on its event
loop, never both at once. Reads run meanwhile, on the loop and on worker threads, and see
either the previous head or the new one with all of it: they read immutable data
(content-addressed trie nodes, sealed headers, blocks and receipts by number or hash up to
``head``), and ``seal_block`` publishes ``head`` only after the block, its transactions,
receipts and sealed extraData are stored, then removes the block's transactions from the pool
(a pooled transaction is never missing from both the pool and the chain). The block and
receipt caches take a lock. SQLite belongs to the thread that opened it (``flush``: the loop).

Block hashes. py-evm stores each header with the *filtered* QBFT extraData (round 0, no
seals), so its own keccak(header) is exactly the Besu QBFT block hash and parent links work
unchanged. The sealed extraData (real round and commit seals) of each block is kept in a
separate table and served as ``extraData`` by the RPC layer.

Sealing (documented choice): with ``commit_seals = "all"`` (default) every in-process
validator key that is in the block's validator set signs the commit digest, so a block carries
max(quorum, held keys in the set) seals; with ``"quorum"`` a block carries exactly quorum seals
from a window of the held keys that rotates with the block number, as a Besu proposer keeps the
commit seals it collected first (so light clients see different sealers block to block). When
the round-0 proposer is a validator whose key the devnet does not hold, the devnet moves to
round 1, 2, ... like a real round change, so such blocks carry round > 0.

Votes (documented choice): a vote proposed over RPC applies to every in-process validator, as
if the operator had called ``qbft_proposeValidatorVote`` on every node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import Chain
from eth.constants import SECPK1_N
from eth.db.atomic import AtomicDB
from eth.exceptions import (
    BlockNotFound,
    HeaderNotFound,
    TransactionNotFound,
    UnrecognizedTransactionType,
)
from eth_keys.exceptions import BadSignature
from eth_typing import Address as EthAddress
from eth_typing import BlockNumber
from eth_typing import Hash32 as EthHash
from eth_utils.exceptions import ValidationError

from adapters.bft import BftExtraData, Vote, encode_qbft_extra, qbft_quorum, seal_qbft_header
from adapters.errors import ConfigError
from adapters.headers import decode_header
from adapters.types import Address
from devnet import errors
from devnet.config import DevnetConfig
from devnet.evm import chain_class_for, vm_class_for
from devnet.fasttrie import ordered_trie
from devnet.genesis import GenesisSetup, load_genesis_setup
from devnet.keys import DevKey, dev_accounts, validator_keys
from devnet.qbft import PendingVotes, VoteTally, is_epoch_block, proposer_for_round
from devnet.store import ChainStore, TrackedMemoryDB
from devnet.txpool import PoolTx, TxPool

log = logging.getLogger("devnet.chain")

VANITY: Final = b"\x00" * 32
ZERO_ADDRESS: Final = b"\x00" * 20
MAX_NONCE_GAP: Final = 1024
MAX_TIMESTAMP: Final = 2**63  # evm_increaseTime / evm_mine stay below it (headers: uint64)
# Config keys that define the chain itself; a data directory refuses a config that changes them.
_CHAIN_KEYS: Final = (
    "mode",
    "chain_id",
    "fork",
    "validator_count",
    "offline_validators",
    "gas_limit",
)


@dataclass(frozen=True, slots=True)
class SealedBlock:
    """What the node logs and returns after sealing a block."""

    number: int
    hash: bytes
    tx_count: int
    proposer: bytes
    round: int
    dropped: int


class DevnetChain:
    """One devnet chain (consortium QBFT or plain). Construct with ``DevnetChain.open``."""

    def __init__(self, config: DevnetConfig, data_dir: Path | None = None) -> None:
        self.config = config
        self.store = ChainStore(data_dir)
        self.db = TrackedMemoryDB(self.store.load_kv())
        self.base_db = AtomicDB(self.db)
        self.vm_class = vm_class_for(config.consortium, config.fork)
        self.chain_class: type[Chain] = chain_class_for(self.vm_class, config.chain_id)
        self.tx_builder = self.vm_class.get_transaction_builder()
        self.receipt_builder = self.vm_class.get_receipt_builder()
        self.accounts: tuple[DevKey, ...] = dev_accounts(config.dev_accounts)
        # From a Besu genesis file (devnet.genesis): its validators, sealing with their keys.
        self.genesis_setup: GenesisSetup | None = None
        if config.genesis_file is not None:
            keys_dir = config.validator_keys_dir
            self.genesis_setup = load_genesis_setup(
                Path(config.genesis_file), None if keys_dir is None else Path(keys_dir)
            )
            self.held_keys: dict[bytes, bytes] = dict(self.genesis_setup.keys)
            self.genesis_validators: tuple[bytes, ...] = tuple(
                sorted(bytes(v) for v in self.genesis_setup.genesis.validators)
            )
        else:
            held = validator_keys(config.validator_count + config.spare_validators)
            self.held_keys = {k.address: k.private_key for k in held}
            self.genesis_validators = tuple(
                sorted(
                    [k.address for k in held[: config.validator_count]]
                    + list(config.offline_validators)
                )
            )
        self.pool = TxPool(config.max_pool_txs, config.max_pool_bytes)
        self.sealed_extra: dict[int, bytes] = {}
        self.tally = VoteTally(list(self.genesis_validators) if config.consortium else [])
        self.pending_votes = PendingVotes()
        self.allowlist: set[bytes] = set()
        self.time_offset = 0
        self._head_state: tuple[bytes, StateAPI] | None = None
        self._block_cache: OrderedDict[int, BlockAPI] = OrderedDict()
        self._receipt_cache: OrderedDict[int, tuple[ReceiptAPI, ...]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._unflushed: dict[int, bytes] = {}  # sealed extraData of blocks not yet flushed
        if self.db.kv:
            self._restore()
        else:
            self._genesis()
        self.chain = self.chain_class(self.base_db)
        self.head: BlockHeaderAPI = self.chain.get_canonical_head()

    # --- setup -------------------------------------------------------------------------------

    def _genesis(self) -> None:
        if self.genesis_setup is not None:
            params, state = self._genesis_from_file(self.genesis_setup)
        else:
            params, state = self._genesis_from_config()
        chain = self.chain_class.from_genesis(self.base_db, params, state)  # type: ignore[arg-type]
        genesis = chain.get_canonical_head()
        self.sealed_extra[0] = genesis.extra_data
        self.store.flush(self.db, {0: genesis.extra_data}, self._meta(include_config=True))

    def _genesis_from_config(self) -> tuple[dict[str, Any], dict[bytes, dict[str, Any]]]:
        """Genesis header fields and state of the config: the dev accounts funded, the
        validators (consortium) in extraData; the allowlist."""
        cfg = self.config
        self.allowlist = (
            {a.address for a in self.accounts} | set(self.held_keys) | set(cfg.allowlist)
        )
        params: dict[str, Any] = {
            "coinbase": ZERO_ADDRESS,
            "gas_limit": cfg.gas_limit,
            "timestamp": cfg.genesis_timestamp
            if cfg.genesis_timestamp is not None
            else int(time.time()),
        }
        if cfg.consortium:
            params["extra_data"] = encode_qbft_extra(
                BftExtraData(
                    VANITY, tuple(Address(v) for v in self.genesis_validators), None, 0, ()
                )
            )
            params["difficulty"] = 1
        else:
            params["difficulty"] = 0
        state = {
            a.address: {"balance": cfg.dev_balance_wei, "nonce": 0, "code": b"", "storage": {}}
            for a in self.accounts
        }
        return params, state

    def _genesis_from_file(
        self, setup: GenesisSetup
    ) -> tuple[dict[str, Any], dict[bytes, dict[str, Any]]]:
        """Genesis exactly as the Besu genesis file says: every header field Besu reads from
        it (so the block hash is the one a Besu node computes), the alloc; the allowlist."""
        g = setup.genesis
        self.allowlist = set() if setup.allowlist is None else {bytes(a) for a in setup.allowlist}
        params: dict[str, Any] = {
            "coinbase": g.coinbase,
            "gas_limit": g.gas_limit,
            "timestamp": g.timestamp,
            "extra_data": g.extra_data,
            "difficulty": g.difficulty,
            "mix_hash": g.mix_hash,
            "nonce": g.nonce,
            "base_fee_per_gas": g.base_fee,
        }
        state = {
            bytes(a.address): {
                "balance": a.balance,
                "nonce": a.nonce,
                "code": a.code,
                "storage": dict(a.storage),
            }
            for a in g.alloc
        }
        return params, state

    def _restore(self) -> None:
        meta = self.store.load_meta()
        stored = meta.get("config", {})
        wanted = self.config.to_dict()
        for key in _CHAIN_KEYS:
            if key in stored and stored[key] != wanted[key]:
                raise ConfigError(
                    "the data directory holds a chain made with a different config",
                    key=key,
                    stored=stored[key],
                    given=wanted[key],
                )
        self.sealed_extra = self.store.load_sealed_extra()
        if "tally" in meta:
            self.tally = VoteTally.from_json(meta["tally"])
        self.pending_votes = PendingVotes.from_json(meta.get("pending_votes", {}))
        self.allowlist = {bytes.fromhex(a[2:]) for a in meta.get("allowlist", [])}
        self.time_offset = int(meta.get("time_offset", 0))

    def _meta(self, include_config: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "tally": self.tally.to_json(),
            "pending_votes": self.pending_votes.to_json(),
            "allowlist": sorted("0x" + a.hex() for a in self.allowlist),
            "time_offset": self.time_offset,
        }
        if include_config:
            meta["config"] = self.config.to_dict()
        return meta

    def close(self) -> None:
        self.flush()
        self.store.close()

    # --- block production --------------------------------------------------------------------

    def next_base_fee(self) -> int:
        from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas

        return int(calculate_expected_base_fee_per_gas(self.head))

    def _select_proposer(
        self, parent: BlockHeaderAPI, validators: list[bytes]
    ) -> tuple[int, bytes]:
        for round_ in range(len(validators)):
            proposer = proposer_for_round(parent.coinbase, validators, round_)
            if proposer in self.held_keys:
                return round_, proposer
        raise RuntimeError("no in-process validator can propose")  # prevented by vote checks

    def next_timestamp(self) -> int:
        """Wall clock (plus ``evm_increaseTime``), strictly after the head."""
        return max(int(time.time()) + self.time_offset, int(self.head.timestamp) + 1)

    def produce_block(self, allow_empty: bool = True) -> SealedBlock | None:
        """Seal one block with the executable pool transactions and persist it. With
        ``allow_empty=False``, return None instead of sealing a block without transactions."""
        try:
            return self.seal_block(allow_empty)
        finally:
            self.flush()

    def flush(self) -> None:
        """Persist what changed since the last flush (blocks sealed by ``seal_block``, votes,
        allowlist, clock) in one SQLite transaction. On the thread that opened the store."""
        sealed, self._unflushed = self._unflushed, {}
        self.store.flush(self.db, sealed, self._meta())

    def seal_block(self, allow_empty: bool = True) -> SealedBlock | None:
        """``produce_block`` without writing SQLite (``flush`` does): the part the server runs
        on its producer thread. Readers see the new block once ``head`` is published, with its
        transactions, receipts and sealed extraData already stored."""
        parent = self.head
        number = parent.block_number + 1
        timestamp = self.next_timestamp()
        round_ = 0
        vote: Vote | None = None
        if self.config.consortium:
            validators = list(self.tally.validators)
            round_, coinbase = self._select_proposer(parent, validators)
            epoch = is_epoch_block(number, self.config.epoch_length)
            vote = None if epoch else self.pending_votes.choose(coinbase, self.tally)
            extra = encode_qbft_extra(
                BftExtraData(VANITY, tuple(Address(v) for v in validators), vote, 0, ())
            )
        else:
            coinbase, extra, epoch = ZERO_ADDRESS, b"", False
        header = self.vm_class.create_header_from_parent(
            parent, coinbase=coinbase, timestamp=timestamp, extra_data=extra
        )
        vm = self.chain.get_vm(header)
        state = vm.state
        candidates, stale = self.pool.select(
            lambda a: int(state.get_nonce(EthAddress(a))),
            int(header.base_fee_per_gas or 0),
            header.gas_limit,
        )
        if not candidates and not allow_empty:
            for ptx in stale:
                self.pool.remove(ptx.hash)
            return None
        vm.block_preprocessing(vm.get_block())  # type: ignore[attr-defined]
        result_header, applied, receipts, dropped = self._apply(vm, header, candidates)
        block = self._finish_block(vm, parent, result_header, [p.tx for p in applied], receipts)
        sealed_extra = block.header.extra_data
        if self.config.consortium:
            keys = [self.held_keys[v] for v in validators if v in self.held_keys]
            if self.config.commit_seals == "quorum":
                need, start = qbft_quorum(len(validators)), number % len(keys)
                keys = [keys[(start + i) % len(keys)] for i in range(need)]
            sealed = seal_qbft_header(decode_header(rlp.encode(block.header)), keys, round_=round_)
            sealed_extra = sealed.extra_data
            if epoch:
                self.tally.discard_all()
            elif vote is not None:
                changed = self.tally.add_vote(coinbase, vote)
                if changed is not None:
                    log.info(
                        "validator set changed at block %d: %s 0x%s (now %d validators)",
                        number,
                        "added" if vote.add else "removed",
                        changed.hex(),
                        len(self.tally.validators),
                    )
            self.pending_votes.prune(self.tally)
        self.sealed_extra[number] = sealed_extra
        self._unflushed[number] = sealed_extra
        # Readers find the block and receipts as built (transactions with their senders
        # recovered) instead of decoding them again on the event loop.
        self._remember(self._block_cache, number, block)
        self._remember(self._receipt_cache, number, tuple(receipts))
        # Publish last: a reader holding the old head never looks past it (header_by_number,
        # header_by_hash and transaction_location stop at ``head``); one reference assignment.
        self.head = block.header
        self._head_state = None
        # Only then leave the pool: a reader that misses a transaction in the pool finds it
        # mined (eth_getTransactionByHash looks in the pool first).
        for ptx in (*applied, *stale, *dropped):
            self.pool.remove(ptx.hash)
        sealed_block = SealedBlock(number, block.hash, len(applied), coinbase, round_, len(dropped))
        log.info(
            "sealed block %d: %d txs, proposer 0x%s, round %d%s",
            number,
            len(applied),
            coinbase.hex(),
            round_,
            f", {len(dropped)} dropped" if dropped else "",
        )
        return sealed_block

    def _finish_block(
        self,
        vm: Any,
        parent: BlockHeaderAPI,
        header: BlockHeaderAPI,
        txs: list[SignedTransactionAPI],
        receipts: list[ReceiptAPI],
    ) -> BlockAPI:
        # py-evm's set_block_transactions_and_withdrawals + mine_block + Chain.persist_block,
        # with the one-pass trie builder (py-trie was the largest cost of a full block) and
        # without validate_block re-deriving the transactions root and re-reading the block.
        tx_root, tx_nodes = ordered_trie([tx.encode() for tx in txs])
        receipt_root, receipt_nodes = ordered_trie([r.encode() for r in receipts])
        nodes = {EthHash(k): v for k, v in (*tx_nodes.items(), *receipt_nodes.items())}
        self.chain.chaindb.persist_trie_data_dict(nodes)
        block = vm.get_block().copy(
            transactions=txs,
            header=header.copy(transaction_root=tx_root, receipt_root=receipt_root),
        )
        final: BlockAPI = vm.finalize_block(block).block
        self.vm_class.validate_header(final.header, parent)
        self.chain.chaindb.persist_block(final)
        return final

    def _apply(
        self, vm: Any, header: BlockHeaderAPI, candidates: list[PoolTx]
    ) -> tuple[BlockHeaderAPI, list[PoolTx], list[ReceiptAPI], list[PoolTx]]:
        # py-evm's apply_all_transactions aborts the whole batch on one invalid transaction;
        # this is the same loop (one VM, one state) that drops such a transaction instead.
        applied: list[PoolTx] = []
        receipts: list[ReceiptAPI] = []
        dropped: list[PoolTx] = []
        blocked: set[bytes] = set()
        for ptx in candidates:
            if ptx.sender in blocked:
                continue
            snapshot = vm.state.snapshot()
            try:
                receipt, _ = vm.apply_transaction(header, ptx.tx)
            except ValidationError as exc:
                vm.state.revert(snapshot)
                dropped.append(ptx)
                blocked.add(ptx.sender)
                log.warning("dropped transaction 0x%s: %s", ptx.hash.hex(), exc)
                continue
            header = vm.add_receipt_to_header(header, receipt)
            header = vm.increment_blob_gas_used(header, ptx.tx)
            applied.append(ptx)
            receipts.append(receipt)
        return header, applied, receipts, dropped

    # --- transactions ------------------------------------------------------------------------

    def head_state(self) -> StateAPI:
        return self._state_of_head(self.head)  # read once: a new head may be published

    def _state_of_head(self, head: BlockHeaderAPI) -> StateAPI:
        cached = self._head_state
        if cached is None or cached[0] != head.hash:
            cached = self._head_state = (head.hash, self.chain.get_vm(head).state)
        return cached[1]

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        try:
            tx = self.tx_builder.decode(raw)
        except UnrecognizedTransactionType as exc:
            # Besu RpcErrorType.INVALID_TRANSACTION_TYPE
            raise errors.RpcMethodError(
                errors.INVALID_PARAMS, "Invalid transaction type", f"type {exc.args[0]} unknown"
            ) from exc
        except (
            rlp.exceptions.RLPException,
            ValidationError,
            ValueError,
            TypeError,
            IndexError,
        ) as exc:
            raise errors.invalid_params(
                "Invalid params", f"invalid transaction encoding: {exc}"
            ) from exc
        type_id = getattr(tx, "type_id", None)
        # Blob transactions (3) need sidecars the devnet does not keep; EIP-7702 set-code
        # transactions (4) from Prague on.
        allowed = (None, 1, 2, 4) if self.config.fork == "prague" else (None, 1, 2)
        if type_id not in allowed:
            raise errors.RpcMethodError(
                -32602, "Invalid transaction type", f"type {type_id} not supported"
            )
        return tx

    def submit_raw_transaction(self, raw: bytes) -> bytes:
        """Validate and pool a signed transaction; return its hash (errors follow Besu)."""
        tx = self.decode_transaction(raw)
        tx_hash = bytes(tx.hash)
        if tx_hash in self.pool:
            raise errors.tx_error("Known transaction", "0x" + tx_hash.hex())
        # Recovering the sender checks the signature (py-evm's check_signature_validity would
        # recover it a second time); low-s (EIP-2) is checked here.
        if not (0 < tx.r < SECPK1_N and 0 < tx.s <= SECPK1_N // 2):
            raise errors.invalid_signature("signature r or s out of range (EIP-2)")
        try:
            sender = bytes(tx.sender)
        except (BadSignature, ValidationError, ValueError) as exc:
            raise errors.invalid_signature(str(exc)) from exc
        chain_id = tx.chain_id
        if chain_id is None:
            if self.config.consortium:
                raise errors.tx_error(
                    "ChainId is required", "only EIP-155 transactions are accepted"
                )
        elif chain_id != self.config.chain_id:
            raise errors.tx_error(
                "Wrong chainId",
                f"transaction chain id {chain_id}, node chain id {self.config.chain_id}",
            )
        sender_hex = "0x" + sender.hex()
        if self.config.permissioning and sender not in self.allowlist:
            raise errors.sender_not_authorized(
                f"sender {sender_hex} is not on the accounts allowlist"
            )
        state = self.head_state()
        nonce = int(tx.nonce)
        state_nonce = int(state.get_nonce(EthAddress(sender)))
        if nonce < state_nonce:
            raise errors.nonce_too_low(f"nonce too low: next nonce {state_nonce}, tx nonce {nonce}")
        if nonce > self.pool.next_nonce(sender, state_nonce) + MAX_NONCE_GAP:
            raise errors.tx_error(
                "Transaction nonce is too distant from current sender nonce",
                f"next nonce {state_nonce}, tx nonce {nonce}",
            )
        gas = int(tx.gas)
        if tx.intrinsic_gas > gas:
            raise errors.intrinsic_gas_exceeds_limit(
                f"intrinsic gas {tx.intrinsic_gas}, gas limit {gas}"
            )
        if gas > self.head.gas_limit:
            raise errors.exceeds_block_gas_limit(
                f"gas {gas}, block gas limit {self.head.gas_limit}"
            )
        max_fee, tip = int(tx.max_fee_per_gas), int(tx.max_priority_fee_per_gas)
        if tip > max_fee:
            raise errors.tx_error(
                "Max priority fee per gas exceeds max fee per gas",
                f"maxPriorityFeePerGas {tip}, maxFeePerGas {max_fee}",
            )
        base_fee = self.next_base_fee()
        if max_fee < base_fee:
            raise errors.below_base_fee(f"max fee per gas {max_fee} < block base fee {base_fee}")
        cost = gas * max_fee + int(tx.value)
        replaced = self.pool.by_sender_nonce(sender, nonce)
        committed = self.pool.pending_cost(sender) - (replaced.cost if replaced else 0)
        balance = int(state.get_balance(EthAddress(sender)))
        if balance < committed + cost:
            raise errors.insufficient_funds(
                f"insufficient funds for gas * price + value: address {sender_hex} "
                f"have {balance} want {committed + cost}"
            )
        if replaced is not None and (
            max_fee * 10 < replaced.max_fee * 11 or tip * 10 < replaced.max_priority_fee * 11
        ):
            raise errors.tx_error(
                "Replacement transaction underpriced", "raise both fees by at least 10%"
            )
        if not self.pool.fits(len(raw), replaced) and (
            replaced is not None
            or nonce != self.pool.next_nonce(sender, state_nonce)
            or not self.pool.evict_gapped(len(raw), lambda a: int(state.get_nonce(EthAddress(a))))
        ):
            raise errors.tx_error(
                "Transaction pool is full",
                f"{len(self.pool)} transactions, {self.pool.bytes} bytes; "
                "only a sender's next nonce may evict transactions behind a nonce gap",
            )
        self.pool.add(PoolTx(tx, tx_hash, sender, nonce, gas, max_fee, tip, cost, len(raw)))
        return tx_hash

    def pending_nonce(self, address: bytes) -> int:
        return self.pool.next_nonce(address, int(self.head_state().get_nonce(EthAddress(address))))

    # --- votes -------------------------------------------------------------------------------

    def propose_vote(self, recipient: bytes, add: bool) -> None:
        """Queue a validator vote on every in-process validator (see module docstring)."""
        if not self.config.consortium:
            raise errors.RpcMethodError(
                -32601, "Method not found", "QBFT methods need consortium mode"
            )
        current = set(self.tally.validators)
        after = current | {recipient} if add else current - {recipient}
        if add == (recipient in current):
            # Besu accepts it but never casts it; say so instead of silently queueing a no-op.
            raise errors.invalid_params(
                "Invalid params",
                f"0x{recipient.hex()} is {'already' if add else 'not'} a validator",
            )
        held = sum(1 for v in after if v in self.held_keys)
        if not after or held < qbft_quorum(len(after)):
            raise errors.tx_error(
                "Vote would make the devnet unable to reach quorum",
                f"{len(after)} validators need {qbft_quorum(len(after)) if after else 1} seals, "
                f"the devnet holds keys for {held}",
            )
        self.pending_votes.proposals[recipient] = add
        self.store.save_meta({"pending_votes": self.pending_votes.to_json()})

    def discard_vote(self, recipient: bytes) -> None:
        self.pending_votes.proposals.pop(recipient, None)
        self.store.save_meta({"pending_votes": self.pending_votes.to_json()})

    def validators_of(self, header: BlockHeaderAPI) -> tuple[bytes, ...]:
        """The validators listed in (= that must seal) ``header``."""
        from adapters.bft import decode_qbft_extra

        return tuple(decode_qbft_extra(self.sealed_extra_of(header)).validators)

    # --- allowlist ---------------------------------------------------------------------------

    def save_allowlist(self) -> None:
        self.store.save_meta({"allowlist": sorted("0x" + a.hex() for a in self.allowlist)})

    def increase_time(self, seconds: int) -> int:
        # Header timestamps are uint64: a clock moved past that could never seal again (and
        # the offset is persisted). Refuse far before the edge, leaving room for 2**63 blocks.
        if int(time.time()) + self.time_offset + seconds >= MAX_TIMESTAMP:
            raise errors.invalid_params(
                "Invalid params",
                f"time increase of {seconds} s would move block timestamps past 2**63",
            )
        self.time_offset += seconds
        self.store.save_meta({"time_offset": self.time_offset})
        return self.time_offset

    # --- reads -------------------------------------------------------------------------------

    def sealed_extra_of(self, header: BlockHeaderAPI) -> bytes:
        return self.sealed_extra.get(header.block_number, header.extra_data)

    def header_by_number(self, number: int) -> BlockHeaderAPI | None:
        if number < 0 or number > self.head.block_number:
            return None
        if number == self.head.block_number:
            return self.head
        try:
            return self.chain.get_canonical_block_header_by_number(BlockNumber(number))
        except HeaderNotFound:
            return None

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        try:
            header = self.chain.get_block_header_by_hash(EthHash(block_hash))
        except (HeaderNotFound, ValidationError):
            return None
        if header.block_number > self.head.block_number:
            return None  # stored by a block being sealed, not yet published
        return header

    def block(self, header: BlockHeaderAPI) -> BlockAPI:
        number = header.block_number
        with self._cache_lock:
            cached = self._block_cache.get(number)
        if cached is not None and cached.hash == header.hash:
            return cached
        block = self.chain.get_canonical_block_by_number(number)
        self._remember(self._block_cache, number, block)
        return block

    def receipts(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        number = header.block_number
        with self._cache_lock:
            cached = self._receipt_cache.get(number)
        if cached is None:
            cached = tuple(self.chain.chaindb.get_receipts(header, self.receipt_builder))
            self._remember(self._receipt_cache, number, cached)
        return cached

    def _remember(self, cache: OrderedDict[int, Any], key: int, value: Any) -> None:
        with self._cache_lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > 512:
                cache.popitem(last=False)

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        try:
            number, index = self.chain.chaindb.get_transaction_index(EthHash(tx_hash))
        except (TransactionNotFound, BlockNotFound, KeyError):
            return None
        if number > self.head.block_number:
            return None
        return int(number), int(index)

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        if header.hash == self.head.hash:
            return self._state_of_head(header)
        return self.chain.get_vm(header).state
