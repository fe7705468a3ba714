"""`xgate proof ...`: offline decoding and verification of headers and Merkle-Patricia proofs.

This is also the operator's debugging tool for a stuck transfer: paste what the relayer saw and
get a verdict. Every command prints exactly one JSON object on stdout and exits with
0 = valid, 1 = invalid (``error`` says why), 2 = unusable input (not hex, wrong length ...).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.bft import BFT_MIX_HASH, decode_qbft_extra, qbft_block_hash, qbft_commit_digest
from adapters.errors import DecodeError, XgateError
from adapters.headers import Header, decode_header, header_hash
from adapters.jsonlimits import loads_bounded
from adapters.lightclient.qbft import verify_commit_seals
from adapters.mpt import verify_account_proof, verify_storage_proof
from adapters.receipts import Receipt, verify_receipt_proof
from adapters.rpcjson import rpc_data, rpc_quantity

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2

# CPython's own recursion limit, restored while a proof command runs (see ``_runner``).
PYTHON_DEFAULT_RECURSION_LIMIT = 1000

# Proof nodes piped on stdin: an eth_getProof accountProof is a few KB; this leaves ample room.
STDIN_MAX_BYTES = 16 * 1024 * 1024


class UnusableInput(Exception):
    """The arguments cannot even be read (not hex, wrong length): exit code 2.

    ``argument`` names the command-line argument that could not be read.
    """

    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message)
        self.argument = argument


class _JsonErrorParser(argparse.ArgumentParser):
    """Reports argument errors as the same one JSON object (exit 2) instead of usage text."""

    def error(self, message: str) -> typing.NoReturn:
        _print({"valid": False, "error": "UnusableInput", "message": message})
        sys.exit(EXIT_UNUSABLE)


@dataclass(frozen=True, slots=True)
class Verdict:
    body: dict[str, Any]
    valid: bool


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    proof = commands.add_parser(
        "proof",
        help="decode and verify headers and Merkle-Patricia proofs offline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # argparse builds this parser with the top-level parser's class, and this parser's error()
    # is the one that reports a missing or unknown PROOF_COMMAND: answer those in JSON too.
    proof.error = types.MethodType(_JsonErrorParser.error, proof)  # type: ignore[method-assign]
    sub = proof.add_subparsers(
        dest="proof_command", required=True, metavar="PROOF_COMMAND", parser_class=_JsonErrorParser
    )

    p = sub.add_parser("decode-header", help="decode an RLP block header")
    p.add_argument(
        "--kind",
        choices=["auto", "eth", "qbft"],
        default="auto",
        help="hash rule: eth (plain keccak) or qbft (Besu rule); auto looks at mixHash",
    )
    p.add_argument("header", metavar="HEADER_RLP_HEX")
    p.set_defaults(run=_runner(_decode_header))

    p = sub.add_parser("verify-header", help="verify a header's QBFT commit seals")
    p.add_argument("--kind", choices=["qbft"], default="qbft")
    p.add_argument(
        "--validators",
        required=True,
        metavar="ADDR,ADDR,...",
        help="the validator set that must seal this header",
    )
    p.add_argument("header", metavar="HEADER_RLP_HEX")
    p.set_defaults(run=_runner(_verify_header))

    p = sub.add_parser("verify-receipt", help="verify a receipt inclusion proof")
    p.add_argument("--root", required=True, metavar="RECEIPTS_ROOT")
    p.add_argument(
        "--index", required=True, metavar="TX_INDEX", help="decimal or 0x hex (at most 64 bits)"
    )
    p.add_argument(
        "nodes", nargs="+", metavar="NODE_HEX", help="proof nodes, root first ('-': stdin)"
    )
    p.set_defaults(run=_runner(_verify_receipt))

    p = sub.add_parser("verify-account", help="verify an EIP-1186 account proof")
    p.add_argument("--state-root", required=True, metavar="ROOT")
    p.add_argument("--address", required=True, metavar="ADDR")
    p.add_argument(
        "nodes", nargs="+", metavar="NODE_HEX", help="proof nodes, root first ('-': stdin)"
    )
    p.set_defaults(run=_runner(_verify_account))

    p = sub.add_parser("verify-storage", help="verify an EIP-1186 storage proof")
    p.add_argument("--storage-root", required=True, metavar="ROOT")
    p.add_argument("--slot", required=True, metavar="SLOT", help="slot number (decimal or 0x hex)")
    p.add_argument(
        "nodes", nargs="+", metavar="NODE_HEX", help="proof nodes, root first ('-': stdin)"
    )
    p.set_defaults(run=_runner(_verify_storage))


def _runner(
    command: Callable[[argparse.Namespace], Verdict],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        # py_ecc (imported with the eth stack) raises the limit to 100,000 for EVM precompiles;
        # at that depth runaway recursion on hostile input overflows the C stack (SIGSEGV)
        # instead of raising RecursionError. These commands run no EVM code, so they run under
        # CPython's default; restored afterwards for an in-process caller that does run EVM code.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(PYTHON_DEFAULT_RECURSION_LIMIT)
        try:
            return _run(command, args)
        finally:
            sys.setrecursionlimit(limit)

    return run


def _run(command: Callable[[argparse.Namespace], Verdict], args: argparse.Namespace) -> int:
    try:
        verdict = command(args)
    except UnusableInput as exc:
        _print(
            {
                "valid": False,
                "error": "UnusableInput",
                "message": str(exc),
                "argument": exc.argument,
            }
        )
        return EXIT_UNUSABLE
    except XgateError as exc:
        _print({"valid": False, **exc.to_dict()})
        return EXIT_INVALID
    _print(verdict.body)
    return EXIT_VALID if verdict.valid else EXIT_INVALID


def _print(body: dict[str, Any]) -> None:
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")


# --- commands ------------------------------------------------------------------------------


def _decode_header(args: argparse.Namespace) -> Verdict:
    header = decode_header(_hex(args.header, "HEADER_RLP_HEX"))
    kind = args.kind
    if kind == "auto":
        kind = "qbft" if header.mix_hash == BFT_MIX_HASH else "eth"
    body: dict[str, Any] = {"kind": kind, "field_count": header.field_count, **header_json(header)}
    if kind == "qbft":
        extra = decode_qbft_extra(header.extra_data)
        body["hash"] = _h(qbft_block_hash(header))
        body["round"] = extra.round
        body["validators"] = [_h(v) for v in extra.validators]
        body["vote"] = (
            None
            if extra.vote is None
            else {"recipient": _h(extra.vote.recipient), "add": extra.vote.add}
        )
        body["seals"] = len(extra.seals)
        body["commit_digest"] = _h(qbft_commit_digest(header))
    else:
        body["hash"] = _h(header_hash(header))
    return Verdict(body, valid=True)


def _verify_header(args: argparse.Namespace) -> Verdict:
    validators = tuple(
        _address(a, "--validators") for a in _split_list(args.validators, "--validators")
    )
    header = decode_header(_hex(args.header, "HEADER_RLP_HEX"))
    verified = verify_commit_seals(header, validators)
    return Verdict(
        {
            "valid": True,
            "number": header.number,
            "hash": _h(verified.hash),
            "commit_digest": _h(verified.commit_digest),
            "signers": [_h(s) for s in verified.signers],
            "quorum": verified.quorum,
        },
        valid=True,
    )


def _verify_receipt(args: argparse.Namespace) -> Verdict:
    root = _hash32(args.root, "--root")
    index = _int(args.index, "--index", bits=64)
    receipt = verify_receipt_proof(root, index, _nodes(args.nodes))
    return Verdict({"valid": True, "index": index, "receipt": receipt_json(receipt)}, valid=True)


def _verify_account(args: argparse.Namespace) -> Verdict:
    root = _hash32(args.state_root, "--state-root")
    address = _address(args.address, "--address")
    account = verify_account_proof(root, address, _nodes(args.nodes))
    body: dict[str, Any] = {"valid": True, "address": _h(address), "exists": account is not None}
    if account is not None:
        body["account"] = {
            "nonce": account.nonce,
            "balance": account.balance,
            "storageRoot": _h(account.storage_root),
            "codeHash": _h(account.code_hash),
        }
    return Verdict(body, valid=True)


def _verify_storage(args: argparse.Namespace) -> Verdict:
    root = _hash32(args.storage_root, "--storage-root")
    slot = _int(args.slot, "--slot", bits=256)
    value = verify_storage_proof(root, slot, _nodes(args.nodes))
    return Verdict({"valid": True, "slot": hex(slot), "value": hex(value)}, valid=True)


# --- JSON renderings shared with other commands ------------------------------------------------

_HEADER_FIELDS = (
    ("parentHash", "parent_hash"),
    ("sha3Uncles", "ommers_hash"),
    ("miner", "coinbase"),
    ("stateRoot", "state_root"),
    ("transactionsRoot", "transactions_root"),
    ("receiptsRoot", "receipts_root"),
    ("logsBloom", "logs_bloom"),
    ("difficulty", "difficulty"),
    ("number", "number"),
    ("gasLimit", "gas_limit"),
    ("gasUsed", "gas_used"),
    ("timestamp", "timestamp"),
    ("extraData", "extra_data"),
    ("mixHash", "mix_hash"),
    ("nonce", "nonce"),
    ("baseFeePerGas", "base_fee_per_gas"),
    ("withdrawalsRoot", "withdrawals_root"),
    ("blobGasUsed", "blob_gas_used"),
    ("excessBlobGas", "excess_blob_gas"),
    ("parentBeaconBlockRoot", "parent_beacon_block_root"),
    ("requestsHash", "requests_hash"),
)


def header_json(header: Header) -> dict[str, Any]:
    """Header fields under their JSON-RPC names; absent fork fields are left out."""
    out: dict[str, Any] = {}
    for json_name, attr in _HEADER_FIELDS:
        value = getattr(header, attr)
        if value is not None:
            out[json_name] = _h(value) if isinstance(value, bytes) else value
    return out


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "type": receipt.tx_type,
        "status": receipt.status,
        "cumulativeGasUsed": receipt.cumulative_gas_used,
        "logs": [
            {
                "address": _h(log.address),
                "topics": [_h(t) for t in log.topics],
                "data": _h(log.data),
            }
            for log in receipt.logs
        ],
    }


# --- argument parsing: anything unreadable is UnusableInput (exit 2) --------------------------


def _h(value: bytes) -> str:
    return "0x" + value.hex()


def _hex(text: str, what: str, argument: str | None = None) -> bytes:
    """Bytes of a hex argument, 0x prefix optional; strict like a JSON-RPC DATA value."""
    prefixed = text if text[:2] in ("0x", "0X") else "0x" + text
    try:
        value = rpc_data(prefixed, what)
    except DecodeError as exc:
        raise UnusableInput(f"{what} {exc.message}: {text[:20]!r}", argument or what) from None
    if not value:
        raise UnusableInput(f"{what} is empty", argument or what)
    return value


def _hash32(text: str, what: str) -> bytes:
    value = _hex(text, what)
    if len(value) != 32:
        raise UnusableInput(f"{what} must be 32 bytes, got {len(value)}", what)
    return value


def _address(text: str, what: str) -> bytes:
    value = _hex(text, what)
    if len(value) != 20:
        raise UnusableInput(f"{what} {text!r} must be 20 bytes, got {len(value)}", what)
    return value


def _int(text: str, what: str, bits: int) -> int:
    """A decimal or 0x-hex number of at most ``bits`` bits, digits only (no "_", sign or space)."""
    if text[:2] in ("0x", "0X"):
        try:
            return rpc_quantity(text, what, bits)
        except DecodeError as exc:
            raise UnusableInput(f"{what} {exc.message}: {text!r}", what) from None
    if not (text.isascii() and text.isdigit()):  # int() also takes "_", signs and white space
        raise UnusableInput(f"{what} is not a number: {text!r}", what)
    value = int(text)
    if value.bit_length() > bits:
        raise UnusableInput(f"{what} must be a {bits}-bit unsigned number", what)
    return value


def _split_list(text: str, what: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise UnusableInput(f"{what} is empty", what)
    return items


def _nodes(args: Sequence[str]) -> list[bytes]:
    """Proof nodes from the command line, or from stdin when the only argument is '-'.

    Stdin may hold a JSON array of hex strings (as in eth_getProof) or whitespace-separated hex.
    """
    if list(args) == ["-"]:
        args = _stdin_nodes()
    if not args:
        raise UnusableInput("no proof nodes given", "NODE_HEX")
    return [_hex(node, f"proof node {i}", "NODE_HEX") for i, node in enumerate(args)]


def _stdin_nodes() -> list[str]:
    data = sys.stdin.buffer.read(STDIN_MAX_BYTES + 1)
    if len(data) > STDIN_MAX_BYTES:  # whitespace-separated hex too, not only JSON
        raise UnusableInput(f"stdin is larger than {STDIN_MAX_BYTES} bytes", "NODE_HEX")
    if data.lstrip()[:1] not in (b"[", b"{", b'"'):
        try:
            return data.decode("ascii").split()
        except UnicodeDecodeError:
            raise UnusableInput("stdin is not hex text", "NODE_HEX") from None
    try:
        items = loads_bounded(data, max_bytes=STDIN_MAX_BYTES)
    except DecodeError as exc:
        raise UnusableInput(f"stdin: {exc}", "NODE_HEX") from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise UnusableInput("stdin must be a JSON array of hex strings", "NODE_HEX")
    return items
