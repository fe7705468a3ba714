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

import argparse
import asyncio
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

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
from bench._table import emit, progress
from contracts import load_artifact
from devnet.anvil import start_anvil
from devnet.keys import dev_accounts

ROUNDS = 5
VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors"


def _keys(count: int, label: bytes) -> list[bytes]:
    """Deterministic BENCH-ONLY keys, sorted by address (validator lists are sorted)."""
    return sorted((keccak(label + i.to_bytes(2, "big")) for i in range(count)), key=address_of_key)


def _calldata_gas(call: ContractFunction) -> int:
    """Calldata gas of a call at the standard rate (EIP-2028: 16 per non-zero byte, 4 per zero)."""
    data = bytes.fromhex(call._encode_transaction_data()[2:])
    return sum(16 if b else 4 for b in data)


def _median(samples: list[int]) -> int:
    return int(statistics.median(samples))


@dataclass
class _Bench:
    w3: Web3
    accounts: list[LocalAccount]

    def deploy(self, name: str, *args: Any) -> Contract:
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        receipt = self._send(factory.constructor(*args))
        address = receipt["contractAddress"]
        assert address is not None
        return self.w3.eth.contract(address=address, abi=list(art.abi))

    def gas(self, call: ContractFunction) -> int:
        return int(self._send(call)["gasUsed"])

    def _send(self, call: Any) -> TxReceipt:
        account = self.accounts[0]
        tx = call.build_transaction(
            {
                "from": account.address,
                "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
                "maxPriorityFeePerGas": 1,
                "maxFeePerGas": 2 * int(self.w3.eth.get_block("latest")["baseFeePerGas"]) + 1,
            }
        )
        tx_hash = self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.02)
        if receipt["status"] != 1:
            raise RuntimeError(f"benchmark transaction reverted: {getattr(call, 'fn_name', call)}")
        return receipt


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

    def __init__(self, b: _Bench, keys: list[bytes]) -> None:
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


def _qbft(b: _Bench, n: int) -> dict[str, int]:
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
        f"submit_header_{n}": _median(quorum_gas),
        f"submit_header_{n}_all_seals": _median(all_gas),
        f"submit_header_{n}_calldata": calldata,
    }


def _set_change(b: _Bench) -> dict[str, int]:
    samples = []
    for round_ in range(ROUNDS):
        keys = _keys(4, b"xgate bench validator")
        joining = _keys(1, b"xgate bench joining" + bytes([round_]))[0]
        chain = _QbftChain(b, keys)
        chain.submit(chain.next_rlp(keys[:3]))
        new_keys = sorted([*keys, joining], key=address_of_key)
        new_set = [address_of_key(k) for k in new_keys]
        samples.append(chain.submit(chain.next_rlp(new_keys[:4], next_set=new_set)))
    return {"submit_header_set_change_4_to_5": _median(samples)}


# --- attested header store -------------------------------------------------------------------


def _typed(h: dict[str, Any], chain_id: int, contract: str) -> Any:
    return encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Header": [
                    {"name": "chainId", "type": "uint256"},
                    {"name": "number", "type": "uint64"},
                    {"name": "blockHash", "type": "bytes32"},
                    {"name": "receiptsRoot", "type": "bytes32"},
                    {"name": "stateRoot", "type": "bytes32"},
                ],
            },
            "primaryType": "Header",
            "domain": {
                "name": "xgate AttestedHeaderStore",
                "version": "1",
                "chainId": chain_id,
                "verifyingContract": contract,
            },
            "message": h,
        }
    )


def _attested(b: _Bench) -> dict[str, int]:
    keys = _keys(3, b"xgate bench attester")
    attesters = [Web3.to_checksum_address(address_of_key(k)) for k in keys]
    admin = b.accounts[0].address
    chain_id = int(b.w3.eth.chain_id)
    counter = iter(range(10_000, 20_000))

    def new_header() -> tuple[dict[str, Any], tuple[Any, ...]]:
        n = next(counter)
        tag = n.to_bytes(8, "big")
        h = {
            "chainId": 1,
            "number": n,
            "blockHash": keccak(b"hash" + tag),
            "receiptsRoot": keccak(b"receipts" + tag),
            "stateRoot": keccak(b"state" + tag),
        }
        return h, (h["chainId"], h["number"], h["blockHash"], h["receiptsRoot"], h["stateRoot"])

    def sign(store: Contract, h: dict[str, Any], key: bytes) -> bytes:
        return bytes(Account.sign_message(_typed(h, chain_id, store.address), key).signature)

    out: dict[str, int] = {}
    for k in (2, 3):
        store = b.deploy("AttestedHeaderStore", admin, attesters, k)
        samples = []
        for _ in range(ROUNDS + 1):  # the first one warms up
            h, t = new_header()
            samples.append(
                b.gas(store.functions.submitHeader(t, [sign(store, h, x) for x in keys[:k]]))
            )
        out[f"attested_submit_{k}"] = _median(samples[1:])
    store = b.deploy("AttestedHeaderStore", admin, attesters, 2)
    first, final = [], []
    for _ in range(ROUNDS):
        h, t = new_header()
        first.append(b.gas(store.functions.attest(t, sign(store, h, keys[0]))))
        final.append(b.gas(store.functions.attest(t, sign(store, h, keys[1]))))
    out["attested_attest"] = _median(first)
    out["attested_attest_final"] = _median(final)
    return out


# --- receipt proofs --------------------------------------------------------------------------


def _receipt_proof(b: _Bench) -> dict[str, int]:
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
        "verify_receipt_proof_3node": _median(samples),
        "verify_receipt_proof_3node_bytes": sum(len(n) for n in nodes),
        "verify_receipt_proof_3node_calldata": _calldata_gas(call),
    }


def measure(url: str) -> dict[str, int]:
    """Receipt gasUsed of every light-client path against the anvil at ``url``."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    accounts = [Account.from_key(a.private_key) for a in dev_accounts(1)]
    b = _Bench(w3, accounts)
    steps: list[Callable[[_Bench], dict[str, int]]] = [
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


async def _run() -> dict[str, int]:
    async with start_anvil() as node:
        return measure(node.url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures")
    args = parser.parse_args(argv)
    progress("bench.gas_lightclient: starting anvil")
    emit(asyncio.run(_run()), args.json, title="Light-client gas (receipt gasUsed, anvil)")


if __name__ == "__main__":
    main()
