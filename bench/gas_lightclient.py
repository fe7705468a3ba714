"""Gas of the light clients and proof libraries: ``python -m bench.gas_lightclient [--json]``.

``measure(url)`` runs against an already running anvil and returns receipt ``gasUsed`` (21k
base and calldata included), median of 5, in steady state (the client already holds accepted
headers, so its "latest" slots are non-zero):

* ``submit_header_4`` / ``submit_header_16``: ``QbftLightClient.submitHeader`` of the child of
  the latest header, 17 fields (Shanghai, like the devnet and Besu's shipped QBFT genesis),
  realistic roots/bloom, sealed by a quorum (3 of 4, 11 of 16); ``*_all_seals``: every
  validator sealed (the devnet seals with all keys it holds); ``*_calldata``: the calldata
  share of the figure;
* ``set_change_4_to_5``: ``updateValidatorSet`` with one header that adds a validator (3 of the
  4 trusted sealed it); ``set_change_4_to_3_run``: a removal carried by the header and its child
  (2 + 2 seals, 3 distinct trusted sealers);
* ``backfill_by_set_history``: an older header of the previous epoch (after a set change),
  sealed by that epoch's quorum; ``backfill_by_ancestry_1`` / ``_8``: an older header linked by
  parentHash to an accepted one, 1 and 8 parents down (hashing only);
* ``misbehaviour_double_sign``: two sealed headers at one height freeze the client;
* ``attested_submit_2`` / ``attested_submit_3``: ``AttestedHeaderStore.submitHeader`` with
  k = 2 and 3 signatures (threshold k of 3 attesters); ``attested_attest`` /
  ``attested_attest_final``: one accumulated attestation, below and at the threshold;
* ``verify_receipt_proof_3node``: ``ReceiptProof.logAt`` through the test harness for a
  3-node proof of a receipt in a real 132-receipt anvil block (tests/vectors), log #0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from adapters.bft import (
    BFT_MIX_HASH,
    BftExtraData,
    Vote,
    address_of_key,
    decode_qbft_extra,
    encode_qbft_extra,
    qbft_block_hash,
    seal_qbft_header,
)
from adapters.headers import EMPTY_OMMERS_HASH, Header, encode_header
from adapters.lightclient.qbft import validator_set_rlp
from adapters.receipts import OrderedTrie, encode_receipt, receipt_from_rpc
from adapters.rlpcodec import keccak
from bench._evm import median, standalone
from gateway.domain.typed_data import HeaderData, attested_header_message
from harness import Chain

ROUNDS = 5
# trust 2/3, a trusting period long enough for the bench headers' 2025 timestamps, drift 15 s
BENCH_TRUST = (2, 3, 20 * 365 * 24 * 3600, 15)
VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors"


def bench_keys(count: int, label: bytes) -> list[bytes]:
    """Deterministic BENCH-ONLY keys, sorted by address (validator lists are sorted)."""
    return sorted((keccak(label + i.to_bytes(2, "big")) for i in range(count)), key=address_of_key)


def _calldata_gas(call: ContractFunction) -> int:
    """Calldata gas of a call at the standard rate (EIP-2028: 16 per non-zero byte, 4 per zero)."""
    data = bytes.fromhex(call._encode_transaction_data()[2:])
    return sum(16 if b else 4 for b in data)


# --- QBFT light client -----------------------------------------------------------------------


def bench_header(
    validators: Sequence[bytes], number: int, parent: bytes, vote: Vote | None = None
) -> Header:
    tag = number.to_bytes(8, "big")
    return Header(
        parent_hash=parent,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=validators[number % len(validators)],
        state_root=keccak(b"state" + tag),
        transactions_root=keccak(b"txs" + tag),
        receipts_root=keccak(b"receipts" + tag),
        logs_bloom=bytes(keccak(tag + bytes([i]))[0] if i % 3 == 0 else 0 for i in range(256)),
        difficulty=1,
        number=number,
        gas_limit=60_000_000,
        gas_used=1_234_567,
        timestamp=1_750_000_000 + number,
        extra_data=encode_qbft_extra(
            BftExtraData(b"\x00" * 32, tuple(validators), vote, 0, ())  # type: ignore[arg-type]
        ),
        mix_hash=BFT_MIX_HASH,
        nonce=b"\x00" * 8,
        base_fee_per_gas=7,
        withdrawals_root=keccak(b"\x80"),
    )


class _QbftChain:
    """A light client on anvil fed with consecutive headers sealed by the given keys."""

    def __init__(self, b: Chain, keys: list[bytes]) -> None:
        self.b = b
        self.keys = keys
        self.validators: list[bytes] = [address_of_key(k) for k in keys]
        self.number = 1000
        self.parent = keccak(b"trusted")
        governance = b.accounts[0].address
        self.lc = b.deploy(
            "QbftLightClient",
            20250,
            self.validators,
            self.number,
            self.parent,
            1_750_000_000 + self.number,
            governance,
            BENCH_TRUST,
        )
        self.headers: list[Header] = []

    def next_header(self, signers: list[bytes], next_set: Sequence[bytes] | None = None) -> Header:
        number = self.number + 1
        header = seal_qbft_header(
            bench_header(next_set or self.validators, number, self.parent), signers
        )
        self.number, self.parent = number, bytes(qbft_block_hash(header))
        self.headers.append(header)
        return header

    def next_rlp(self, signers: list[bytes], next_set: Sequence[bytes] | None = None) -> bytes:
        return encode_header(self.next_header(signers, next_set))

    def submit(self, rlp: bytes) -> int:
        return self.b.gas(self.lc.functions.submitHeader(rlp))

    def change_set(self, run: Sequence[Header]) -> int:
        """``updateValidatorSet`` from the current set to the one ``run[0]`` lists."""
        trusted = validator_set_rlp(self.validators)
        gas = self.b.gas(
            self.lc.functions.updateValidatorSet(trusted, [encode_header(h) for h in run])
        )
        self.validators = list(decode_qbft_extra(run[0].extra_data).validators)
        return gas


def _qbft(b: Chain, n: int) -> dict[str, int]:
    keys = bench_keys(n, b"xgate bench validator")
    quorum = -(-2 * n // 3)
    chain = _QbftChain(b, keys)
    chain.submit(chain.next_rlp(keys[:quorum]))  # warm-up: the latest slots become non-zero
    quorum_gas, all_gas, calldata = [], [], 0
    for _ in range(ROUNDS):
        rlp = chain.next_rlp(keys[:quorum])
        calldata = _calldata_gas(chain.lc.functions.submitHeader(rlp))
        quorum_gas.append(chain.submit(rlp))
        all_gas.append(chain.submit(chain.next_rlp(keys)))
    return {
        f"submit_header_{n}": median(quorum_gas),
        f"submit_header_{n}_all_seals": median(all_gas),
        f"submit_header_{n}_calldata": calldata,
    }


def _set_change(b: Chain) -> dict[str, int]:
    added, removed, history, ancestry_1, ancestry_8, double_sign = [], [], [], [], [], []
    for round_ in range(ROUNDS):
        keys = bench_keys(4, b"xgate bench validator")
        joining = bench_keys(1, b"xgate bench joining" + bytes([round_]))[0]
        chain = _QbftChain(b, keys)
        for _ in range(10):
            chain.next_header(keys[:3])
        unsent = list(chain.headers)  # 1001..1010: only 1010 is submitted (the client may skip)
        chain.submit(encode_header(unsent[-1]))
        new_keys = sorted([*keys, joining], key=address_of_key)
        new_set = [address_of_key(k) for k in new_keys]
        added.append(chain.change_set([chain.next_header([*keys[:3], joining], next_set=new_set)]))
        # an older block of the previous epoch, never submitted: by set history
        stranded = bench_header([address_of_key(k) for k in keys], 1005, b"\x77" * 32)
        history.append(chain.submit(encode_header(seal_qbft_header(stranded, keys[:3]))))
        # older blocks linked by parentHash to the accepted 1010: 1 and 8 parents down
        down = [encode_header(h) for h in reversed(unsent)]  # 1010, 1009, ...
        ancestry_1.append(b.gas(chain.lc.functions.submitAncestors(down[:2])))
        ancestry_8.append(b.gas(chain.lc.functions.submitAncestors([down[1], *down[2:10]])))
        removed.append(_removal(b))
        rival = bench_header(new_set, 2000 + round_, b"\x55" * 32)
        pair = (
            seal_qbft_header(rival, new_keys[:4]),
            seal_qbft_header(replace(rival, state_root=b"\x01" * 32), new_keys[1:]),
        )
        misbehaviour = chain.lc.functions.submitMisbehaviour(*(encode_header(h) for h in pair))
        double_sign.append(b.gas(misbehaviour))
    return {
        "set_change_4_to_5": median(added),
        "set_change_4_to_3_run": median(removed),
        "backfill_by_set_history": median(history),
        "backfill_by_ancestry_1": median(ancestry_1),
        "backfill_by_ancestry_8": median(ancestry_8),
        "misbehaviour_double_sign": median(double_sign),
    }


def _removal(b: Chain) -> int:
    """4 -> 3: the removal header and its child, sealed 2 + 2 by 3 distinct trusted validators."""
    keys = bench_keys(4, b"xgate bench validator")
    chain = _QbftChain(b, keys)
    chain.submit(chain.next_rlp(keys[:3]))
    remaining = [address_of_key(k) for k in keys[:3]]
    first = chain.next_header(keys[:2], next_set=remaining)
    second = chain.next_header(keys[1:3], next_set=remaining)
    return chain.change_set([first, second])


# --- attested header store -------------------------------------------------------------------


def _attested(b: Chain) -> dict[str, int]:
    keys = bench_keys(3, b"xgate bench attester")
    attesters = [Web3.to_checksum_address(address_of_key(k)) for k in keys]
    admin = b.accounts[0].address
    chain_id = int(b.w3.eth.chain_id)
    counter = iter(range(10_000, 20_000))

    def new_header() -> HeaderData:
        n = next(counter)
        tag = n.to_bytes(8, "big")
        return 1, n, keccak(b"hash" + tag), keccak(b"receipts" + tag), keccak(b"state" + tag)

    def sign(store: Contract, h: HeaderData, key: bytes) -> bytes:
        msg = attested_header_message(chain_id, store.address, h)
        return bytes(Account.sign_message(msg, key).signature)

    out: dict[str, int] = {}
    for k in (2, 3):
        store = b.deploy("AttestedHeaderStore", admin, attesters, k)
        samples = []
        for _ in range(ROUNDS + 1):  # the first one warms up
            h = new_header()
            samples.append(
                b.gas(store.functions.submitHeader(h, [sign(store, h, x) for x in keys[:k]]))
            )
        out[f"attested_submit_{k}"] = median(samples[1:])
    store = b.deploy("AttestedHeaderStore", admin, attesters, 2)
    first, final = [], []
    for _ in range(ROUNDS):
        h = new_header()
        first.append(b.gas(store.functions.attest(h, sign(store, h, keys[0]))))
        final.append(b.gas(store.functions.attest(h, sign(store, h, keys[1]))))
    out["attested_attest"] = median(first)
    out["attested_attest_final"] = median(final)
    return out


# --- receipt proofs --------------------------------------------------------------------------


def _receipt_proof(b: Chain) -> dict[str, int]:
    data = json.loads((VECTORS / "receipts_anvil_block.json").read_text())
    encoded = [encode_receipt(receipt_from_rpc(r)) for r in data["receipts"]]
    trie = OrderedTrie(encoded)
    pick = next(
        i
        for i, r in enumerate(data["receipts"])
        if r["logs"] and len(trie.proof(i)) == 3 and len(trie.proof(i)[1]) > 100
    )  # a receipt with logs under two full branch nodes
    nodes = list(trie.proof(pick))
    harness = b.deploy("LcLibHarness")
    call = harness.functions.proveLog(bytes(trie.root), pick, nodes, 0)
    samples = [b.gas(call) for _ in range(ROUNDS)]
    return {
        "verify_receipt_proof_3node": median(samples),
        "verify_receipt_proof_3node_bytes": sum(len(n) for n in nodes),
        "verify_receipt_proof_3node_calldata": _calldata_gas(call),
    }


def measure(url: str) -> dict[str, int]:
    """Receipt gasUsed of every light-client path against the anvil at ``url``."""
    b = Chain.connect("anvil", url, accounts=1)
    steps: list[Callable[[Chain], dict[str, int]]] = [
        lambda x: _qbft(x, 4),
        lambda x: _qbft(x, 16),
        _set_change,
        _attested,
        _receipt_proof,
    ]
    out: dict[str, int] = {}
    for step in steps:
        out.update(step(b))
    return out


def main(argv: list[str] | None = None) -> None:
    standalone(measure, __doc__, "Light-client gas (receipt gasUsed, anvil)", argv)


if __name__ == "__main__":
    main()
