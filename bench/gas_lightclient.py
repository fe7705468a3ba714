"""Gas of the light clients and proof libraries: ``python -m bench.gas_lightclient [--json]``.

``measure(url)`` runs against an already running anvil and returns receipt ``gasUsed`` (21k
base and calldata included), median of 5, in steady state (the client already holds accepted
headers, so its "latest" slots are non-zero):

* ``submit_header_4`` / ``submit_header_16``: ``QbftLightClient.submitHeader`` of the child of
  the latest header, 17 fields (Shanghai, like the devnet and Besu's shipped QBFT genesis),
  realistic roots/bloom, sealed by a quorum (3 of 4, 11 of 16); ``*_all_seals``: every
  validator sealed (the devnet seals with all keys it holds); ``*_calldata``: the calldata
  share of the figure; ``submit_header_set_change_4_to_5``: a header that adds a validator;
* ``attested_submit_2`` / ``attested_submit_3``: ``AttestedHeaderStore.submitHeader`` with
  k = 2 and 3 signatures (threshold k of 3 attesters); ``attested_attest`` /
  ``attested_attest_final``: one accumulated attestation, below and at the threshold;
* ``verify_receipt_proof_3node``: ``ReceiptProof.logAt`` through the test harness for a
  3-node proof of a receipt in a real 132-receipt anvil block (tests/vectors), log #0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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
    encode_qbft_extra,
    qbft_block_hash,
    seal_qbft_header,
)
from adapters.headers import EMPTY_OMMERS_HASH, Header, encode_header
from adapters.receipts import OrderedTrie, encode_receipt, receipt_from_rpc
from adapters.rlpcodec import keccak
from bench._evm import Evm, median, standalone
from gateway.domain.typed_data import HeaderData, attested_header_message

ROUNDS = 5
VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors"


def _keys(count: int, label: bytes) -> list[bytes]:
    """Deterministic BENCH-ONLY keys, sorted by address (validator lists are sorted)."""
    return sorted((keccak(label + i.to_bytes(2, "big")) for i in range(count)), key=address_of_key)


def _calldata_gas(call: ContractFunction) -> int:
    """Calldata gas of a call at the standard rate (EIP-2028: 16 per non-zero byte, 4 per zero)."""
    data = bytes.fromhex(call._encode_transaction_data()[2:])
    return sum(16 if b else 4 for b in data)


# --- QBFT light client -----------------------------------------------------------------------


def _header(
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

    def __init__(self, b: Evm, keys: list[bytes]) -> None:
        self.b = b
        self.keys = keys
        self.validators: list[bytes] = [address_of_key(k) for k in keys]
        self.number = 1000
        self.parent = keccak(b"trusted")
        self.lc = b.deploy("QbftLightClient", 20250, self.validators, self.number, self.parent)

    def next_rlp(self, signers: list[bytes], next_set: Sequence[bytes] | None = None) -> bytes:
        number = self.number + 1
        header = seal_qbft_header(
            _header(next_set or self.validators, number, self.parent), signers
        )
        self.number, self.parent = number, bytes(qbft_block_hash(header))
        return encode_header(header)

    def submit(self, rlp: bytes) -> int:
        return self.b.gas(self.lc.functions.submitHeader(rlp))


def _qbft(b: Evm, n: int) -> dict[str, int]:
    keys = _keys(n, b"xgate bench validator")
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


def _set_change(b: Evm) -> dict[str, int]:
    samples = []
    for round_ in range(ROUNDS):
        keys = _keys(4, b"xgate bench validator")
        joining = _keys(1, b"xgate bench joining" + bytes([round_]))[0]
        chain = _QbftChain(b, keys)
        chain.submit(chain.next_rlp(keys[:3]))
        new_keys = sorted([*keys, joining], key=address_of_key)
        new_set = [address_of_key(k) for k in new_keys]
        samples.append(chain.submit(chain.next_rlp(new_keys[:4], next_set=new_set)))
    return {"submit_header_set_change_4_to_5": median(samples)}


# --- attested header store -------------------------------------------------------------------


def _attested(b: Evm) -> dict[str, int]:
    keys = _keys(3, b"xgate bench attester")
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


def _receipt_proof(b: Evm) -> dict[str, int]:
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
    b = Evm.connect(url, 1)
    steps: list[Callable[[Evm], dict[str, int]]] = [
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
