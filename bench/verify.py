"""Off-chain verification speed on one core: QBFT headers/s and receipt proofs/s.

    python -m bench.verify            # table
    python -m bench.verify --json     # one JSON object

Receipt proofs: a synthetic mainnet-like block of 150 receipts (EIP-1559 and legacy, 0-8 logs
each, ERC-20-transfer-sized logs). The headline figure uses the 3-node proofs (root branch,
branch, leaf: indices 1..127, like most mainnet receipts); indices 0 and 128+ need 5 nodes and
are reported separately. Each verification takes the wire-format proof (RLP node bytes) and returns the decoded
Receipt. py-trie runs the same job: decode the nodes, ``HexaryTrie.get_from_proof``, then the
same receipt decoder; it is measured with its default keccak (eth-hash's auto backend) and with
the C keccak our verifier uses, to separate the hash backend from the walker.

QBFT headers: headers with QBFT extraData sealed by exactly quorum (ceil(2n/3)) validators,
verified from RLP bytes with ``adapters.lightclient.qbft.verify_commit_seals`` (decode, both
hashes, every seal recovered and checked).
"""

from __future__ import annotations

import argparse
import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import rlp
from eth_hash.auto import keccak as eth_hash_keccak
from trie.hexary import HexaryTrie

from adapters.bft import (
    BFT_MIX_HASH,
    BftExtraData,
    address_of_key,
    encode_qbft_extra,
    qbft_quorum,
    seal_qbft_header,
)
from adapters.headers import EMPTY_OMMERS_HASH, Header, encode_header
from adapters.lightclient.qbft import verify_commit_seals
from adapters.mpt import verify_proof
from adapters.receipts import (
    Log,
    OrderedTrie,
    Receipt,
    decode_receipt,
    encode_receipt,
    ordered_trie_key,
    verify_receipt_proof,
)
from adapters.rlpcodec import KECCAK_BACKEND, keccak
from adapters.types import Address
from bench._table import emit, progress, rate, rates

RECEIPTS_PER_BLOCK = 150
QBFT_HEADERS = 64  # distinct headers per validator-set size


# --- receipts ------------------------------------------------------------------------------------


def synthetic_block(count: int = RECEIPTS_PER_BLOCK, seed: int = 7) -> list[Receipt]:
    """Mainnet-like receipts: mostly EIP-1559, some legacy, 0-8 logs, a few reverts."""
    rnd = random.Random(seed)
    receipts = []
    gas = 0
    for _ in range(count):
        gas += rnd.randint(21_000, 250_000)
        n_logs = rnd.choice([0, 1, 1, 1, 2, 3, 4, 6, 8])
        logs = tuple(
            Log(
                address=Address(rnd.randbytes(20)),
                topics=tuple(rnd.randbytes(32) for _ in range(rnd.choice([1, 3, 3, 4]))),
                data=rnd.randbytes(32 * rnd.choice([0, 1, 1, 2, 4])),
            )
            for _ in range(n_logs)
        )
        receipts.append(
            Receipt(
                tx_type=rnd.choice([2, 2, 2, 0]),
                status=0 if rnd.random() < 0.03 else 1,
                cumulative_gas_used=gas,
                logs_bloom=rnd.randbytes(256),
                logs=logs,
            )
        )
    return receipts


def receipt_cases() -> tuple[bytes, list[tuple[int, tuple[bytes, ...]]]]:
    receipts = synthetic_block()
    trie = OrderedTrie([encode_receipt(r) for r in receipts])
    cases = [(i, trie.proof(i)) for i in range(len(receipts))]
    for i, nodes in cases:  # the benchmark only measures proofs that verify
        if verify_receipt_proof(trie.root, i, nodes) != receipts[i]:
            raise AssertionError(f"receipt proof {i} does not verify")
    return trie.root, cases


def ours(root: bytes, cases: list[tuple[int, tuple[bytes, ...]]]) -> Callable[[], int]:
    def run() -> int:
        for index, nodes in cases:
            verify_receipt_proof(root, index, nodes)
        return len(cases)

    return run


def ours_proof_only(root: bytes, cases: list[tuple[int, tuple[bytes, ...]]]) -> Callable[[], int]:
    keyed = [(ordered_trie_key(i), nodes) for i, nodes in cases]

    def run() -> int:
        for key, nodes in keyed:
            verify_proof(root, key, nodes)
        return len(keyed)

    return run


def pytrie(root: bytes, cases: list[tuple[int, tuple[bytes, ...]]]) -> Callable[[], int]:
    keyed = [(ordered_trie_key(i), nodes) for i, nodes in cases]

    def run() -> int:
        for key, nodes in keyed:
            decoded = [rlp.decode(n) for n in nodes]
            value = HexaryTrie.get_from_proof(root, key, decoded)  # type: ignore[no-untyped-call]
            decode_receipt(value)
        return len(keyed)

    return run


def pytrie_proof_only(root: bytes, cases: list[tuple[int, tuple[bytes, ...]]]) -> Callable[[], int]:
    keyed = [(ordered_trie_key(i), [rlp.decode(n) for n in nodes]) for i, nodes in cases]

    def run() -> int:
        for key, decoded in keyed:
            HexaryTrie.get_from_proof(root, key, decoded)  # type: ignore[no-untyped-call]
        return len(keyed)

    return run


@contextlib.contextmanager
def eth_hash_backend(hasher: Callable[[bytes], bytes]) -> Iterator[None]:
    """Temporarily route eth-hash's ``keccak`` (used by py-trie) through ``hasher``."""
    eth_hash_keccak(b"")  # settle the auto backend first
    saved = eth_hash_keccak.hasher
    eth_hash_keccak.hasher = hasher  # type: ignore[assignment]
    try:
        yield
    finally:
        eth_hash_keccak.hasher = saved


def bench_receipts(seconds: float) -> dict[str, Any]:
    root, every = receipt_cases()
    # Indices 1..127 have 1-byte keys and 3-node proofs, as most mainnet receipts; 0 and
    # 128+ (keys 0x80, 0x81xx) sit two levels deeper and are measured separately.
    cases = [c for c in every if len(c[1]) == 3]
    deep = [c for c in every if len(c[1]) > 3]
    sizes = [sum(len(n) for n in nodes) for _, nodes in cases]
    progress(f"receipt proofs: {len(cases)} 3-node proofs + {len(deep)} deeper ones, measuring ...")
    figures: dict[str, Any] = rates(
        {
            "receipt_proofs_per_s": ours(root, cases),
            "pytrie_receipt_proofs_per_s": pytrie(root, cases),
        },
        seconds=seconds,
    )
    figures["receipt_vs_pytrie_ratio"] = (
        figures["receipt_proofs_per_s"] / figures["pytrie_receipt_proofs_per_s"]
    )
    with eth_hash_backend(keccak):
        figures["pytrie_c_keccak_receipt_proofs_per_s"] = rate(pytrie(root, cases), seconds=seconds)
    figures["deep_receipt_proofs_per_s"] = rate(ours(root, deep), seconds=seconds)
    figures.update(
        rates(
            {
                "proof_only_per_s": ours_proof_only(root, cases),
                "pytrie_proof_only_per_s": pytrie_proof_only(root, cases),
            },
            seconds=seconds,
        )
    )
    figures["receipts_in_block"] = len(every)
    figures["receipt_proof_bytes_avg"] = round(sum(sizes) / len(sizes))
    figures["keccak_backend"] = KECCAK_BACKEND
    return figures


# --- QBFT headers ------------------------------------------------------------------------------


def qbft_headers(n: int, count: int = QBFT_HEADERS) -> tuple[list[bytes], list[bytes]]:
    """``count`` RLP headers sealed by quorum of ``n`` validators, and the validator set."""
    rnd = random.Random(n)
    keys = [rnd.randbytes(32) for _ in range(n)]
    by_address = sorted((address_of_key(k), k) for k in keys)
    validators = tuple(a for a, _ in by_address)
    encoded = []
    parent = rnd.randbytes(32)
    for number in range(1, count + 1):
        extra = BftExtraData(
            vanity=bytes(32), validators=validators, vote=None, round=number % 3, seals=()
        )
        header = Header(
            parent_hash=parent,
            ommers_hash=EMPTY_OMMERS_HASH,
            coinbase=validators[number % n],
            state_root=rnd.randbytes(32),
            transactions_root=rnd.randbytes(32),
            receipts_root=rnd.randbytes(32),
            logs_bloom=rnd.randbytes(256),
            difficulty=1,
            number=number,
            gas_limit=30_000_000,
            gas_used=rnd.randint(0, 30_000_000),
            timestamp=1_700_000_000 + number,
            extra_data=encode_qbft_extra(extra),
            mix_hash=BFT_MIX_HASH,
            nonce=bytes(8),
            base_fee_per_gas=7,
        )
        signers = rnd.sample(range(n), qbft_quorum(n))
        encoded.append(encode_header(seal_qbft_header(header, [by_address[i][1] for i in signers])))
        parent = rnd.randbytes(32)
    return encoded, list(validators)


def bench_qbft(seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for n in (4, 16):
        headers, validators = qbft_headers(n)
        for raw in headers:  # only valid headers are timed
            verify_commit_seals(raw, validators)
        progress(
            f"qbft headers n={n}: {len(headers)} headers, {len(raw)} bytes each, measuring ..."
        )

        def run(headers: list[bytes] = headers, validators: list[bytes] = validators) -> int:
            for raw in headers:
                verify_commit_seals(raw, validators)
            return len(headers)

        figures[f"qbft_headers_per_s_n{n}"] = rate(run, seconds=seconds)
    return figures


# --- main ----------------------------------------------------------------------------------------

TARGETS = {
    "qbft_headers_per_s_n4": 3_000,
    "receipt_proofs_per_s": 10_000,
}

LABELS = {
    "qbft_headers_per_s_n4": "QBFT headers/s, n=4 (quorum 3 seals)",
    "qbft_headers_per_s_n16": "QBFT headers/s, n=16 (quorum 11 seals)",
    "receipt_proofs_per_s": "receipt proofs/s, ours, 3-node (proof + decode)",
    "pytrie_receipt_proofs_per_s": "receipt proofs/s, py-trie, 3-node, same job",
    "pytrie_c_keccak_receipt_proofs_per_s": "receipt proofs/s, py-trie with our C keccak",
    "receipt_vs_pytrie_ratio": "ours / py-trie",
    "deep_receipt_proofs_per_s": "receipt proofs/s, ours, 5-node (index 0, 128+)",
    "proof_only_per_s": "MPT proofs/s, ours (value bytes only)",
    "pytrie_proof_only_per_s": "MPT proofs/s, py-trie (pre-decoded nodes)",
    "receipts_in_block": "receipts in the block",
    "receipt_proof_bytes_avg": "bytes per 3-node receipt proof (avg)",
    "keccak_backend": "keccak backend (ours)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.verify", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--seconds", type=float, default=1.5, help="measuring time per figure (default 1.5)"
    )
    args = parser.parse_args(argv)

    figures = bench_qbft(args.seconds)
    figures.update(bench_receipts(args.seconds))

    rows = []
    for name, label in LABELS.items():
        value = figures.get(name)
        target = TARGETS.get(name)
        verdict = "" if target is None or value is None else ("ok" if value >= target else "MISS")
        rows.append((label, value if value is not None else "n/a", target or "", verdict))
    emit(
        figures,
        args.json,
        title="Off-chain verification, one core",
        rows=rows,
        headers=("figure", "value", "target", ""),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
