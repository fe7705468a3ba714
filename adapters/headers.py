"""Ethereum block headers: strict RLP codec, hashing and parsing of JSON-RPC block objects.

One ``Header`` type covers every fork's field set (ethereum/execution-specs, see
docs/light-client-formats.md §2.1):

==========  ================================================  =======
fields      added                                             count
==========  ================================================  =======
0-14        parentHash … nonce (Frontier)                     15
15          baseFeePerGas (London, EIP-1559)                  16
16          withdrawalsRoot (Shanghai, EIP-4895)              17
17-19       blobGasUsed, excessBlobGas, parentBeaconBlockRoot 20
20          requestsHash (Prague, EIP-7685)                   21
==========  ================================================  =======

Optional fields follow fork order: a header that has a later field has all earlier ones.
Decoding is strict: canonical RLP only (``adapters.rlpcodec``), integers without leading
zeros, exact sizes for hashes (32), coinbase (20), bloom (256), nonce (8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from adapters.errors import DecodeError
from adapters.rlpcodec import (
    keccak,
    rlp_decode_list,
    rlp_encode_strings,
    rlp_list_prefix,
    rlp_string,
    scalar_bytes,
)
from adapters.rpcjson import rpc_data, rpc_quantity
from adapters.types import Address, Hash32

__all__ = [
    "EMPTY_OMMERS_HASH",
    "FIELD_COUNTS",
    "Header",
    "decode_header",
    "encode_header",
    "encode_spliced",
    "header_encoder",
    "header_fields",
    "header_from_rpc",
    "header_hash",
    "rpc_hash",
]

FIELD_COUNTS: Final = frozenset({15, 16, 17, 20, 21})
EMPTY_OMMERS_HASH: Final = bytes.fromhex(
    "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
)

# Integer widths. uint64 fields are Go uint64 / Java long in geth and Besu, so a longer value is
# not a header either client could produce; the big-int fields are bounded by uint256.
_U64: Final = 8
_U256: Final = 32

# (name, kind, size) in RLP order. kind "b": fixed-size bytes; "i": integer of at most size
# bytes; "x": free bytes (extraData).
_FIELDS: Final[tuple[tuple[str, str, int], ...]] = (
    ("parent_hash", "b", 32),
    ("ommers_hash", "b", 32),
    ("coinbase", "b", 20),
    ("state_root", "b", 32),
    ("transactions_root", "b", 32),
    ("receipts_root", "b", 32),
    ("logs_bloom", "b", 256),
    ("difficulty", "i", _U256),
    ("number", "i", _U64),
    ("gas_limit", "i", _U64),
    ("gas_used", "i", _U64),
    ("timestamp", "i", _U64),
    ("extra_data", "x", 0),
    ("mix_hash", "b", 32),
    ("nonce", "b", 8),
    ("base_fee_per_gas", "i", _U256),
    ("withdrawals_root", "b", 32),
    ("blob_gas_used", "i", _U64),
    ("excess_blob_gas", "i", _U64),
    ("parent_beacon_block_root", "b", 32),
    ("requests_hash", "b", 32),
)
_OPTIONAL_NAMES: Final = tuple(name for name, _, _ in _FIELDS[15:])
# The field count implied by the number of optional fields present (in fork order).
_COUNT_BY_OPTIONALS: Final = {0: 15, 1: 16, 2: 17, 5: 20, 6: 21}


@dataclass(frozen=True, slots=True)
class Header:
    """An execution-layer block header, any fork. Optional fields are ``None`` when absent.

    Construction validates sizes, integer ranges and fork order, so a ``Header`` always encodes.
    """

    parent_hash: bytes
    ommers_hash: bytes
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    difficulty: int
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    mix_hash: bytes
    nonce: bytes
    base_fee_per_gas: int | None = None
    withdrawals_root: bytes | None = None
    blob_gas_used: int | None = None
    excess_blob_gas: int | None = None
    parent_beacon_block_root: bytes | None = None
    requests_hash: bytes | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def field_count(self) -> int:
        """15, 16, 17, 20 or 21: the number of RLP list items of this header."""
        return _field_count(self)

    @property
    def proposer(self) -> Address:
        """The coinbase as an ``Address`` (for BFT chains: the block proposer)."""
        return Address(self.coinbase)


def _field_count(h: Header) -> int:
    present = 0
    for name in _OPTIONAL_NAMES:
        if getattr(h, name) is None:
            break
        present += 1
    return _COUNT_BY_OPTIONALS[present]


def _validate(h: Header) -> None:
    seen_absent: str | None = None
    present = 0
    for index, (name, kind, size) in enumerate(_FIELDS):
        value = getattr(h, name)
        if index >= 15:
            if value is None:
                seen_absent = seen_absent or name
                continue
            if seen_absent is not None:
                raise DecodeError(
                    "header fields out of fork order", field=name, missing=seen_absent
                )
            present += 1
        if kind == "i":
            if isinstance(value, bool) or not isinstance(value, int):
                raise DecodeError("header integer field has wrong type", field=name)
            if value < 0 or value.bit_length() > size * 8:
                raise DecodeError("header integer field out of range", field=name, value=value)
        else:
            if not isinstance(value, bytes):
                raise DecodeError("header bytes field has wrong type", field=name)
            if kind == "b" and len(value) != size:
                raise DecodeError(
                    "header field has wrong size", field=name, size=len(value), expected=size
                )
    if present not in _COUNT_BY_OPTIONALS:
        raise DecodeError(
            "header has an incomplete fork field set",
            field_count=15 + present,
            allowed=sorted(FIELD_COUNTS),
        )


def header_fields(h: Header) -> list[bytes]:
    """The header as the list of byte strings that its RLP encodes."""
    out: list[bytes] = []
    for name, kind, _ in _FIELDS:
        value = getattr(h, name)
        if value is None:
            break
        out.append(scalar_bytes(value) if kind == "i" else value)
    return out


def encode_header(h: Header) -> bytes:
    """Canonical RLP of the header (its field count follows which optional fields are set)."""
    return rlp_encode_strings(header_fields(h))


def header_encoder(h: Header) -> tuple[bytes, bytes]:
    """The encoded fields before and after extraData, for hashing one header with several
    extraData variants (the BFT block hash and commit digest) without re-encoding the rest.

    ``encode_spliced(parts, extra)`` rebuilds the full RLP.
    """
    fields = header_fields(h)
    before = b"".join([rlp_string(item) for item in fields[:12]])
    after = b"".join([rlp_string(item) for item in fields[13:]])
    return before, after


def encode_spliced(parts: tuple[bytes, bytes], extra_data: bytes) -> bytes:
    """Full header RLP from ``header_encoder`` parts and an extraData value."""
    before, after = parts
    middle = rlp_string(extra_data)
    return rlp_list_prefix(len(before) + len(middle) + len(after)) + before + middle + after


def header_hash(h: Header) -> Hash32:
    """keccak256(RLP(header)): the plain Ethereum block hash (not the QBFT rule)."""
    return Hash32(keccak(encode_header(h)))


def decode_header(data: bytes) -> Header:
    """Decode a header strictly. Raises ``DecodeError`` naming the offending field."""
    items = rlp_decode_list(data, "header")
    count = len(items)
    if count not in FIELD_COUNTS:
        raise DecodeError(
            "header has an unsupported field count",
            field_count=count,
            allowed=sorted(FIELD_COUNTS),
        )
    h = object.__new__(Header)
    for index, (name, kind, size) in enumerate(_FIELDS):
        if index >= count:
            object.__setattr__(h, name, None)
            continue
        item = items[index]
        if not isinstance(item, bytes):
            raise DecodeError("header field is a list, expected bytes", field=name)
        if kind == "i":
            if len(item) > size:
                raise DecodeError("header integer field too large", field=name, size=len(item))
            if item[:1] == b"\x00":
                raise DecodeError("header integer has leading zeros", field=name)
            object.__setattr__(h, name, int.from_bytes(item, "big"))
        else:
            if kind == "b" and len(item) != size:
                raise DecodeError(
                    "header field has wrong size", field=name, size=len(item), expected=size
                )
            object.__setattr__(h, name, item)
    # Built field by field: the checks above are the ones __post_init__ would repeat.
    return h


# --- JSON-RPC ----------------------------------------------------------------------------------

_RPC_KEYS: Final[tuple[str, ...]] = (
    "parentHash",
    "sha3Uncles",
    "miner",
    "stateRoot",
    "transactionsRoot",
    "receiptsRoot",
    "logsBloom",
    "difficulty",
    "number",
    "gasLimit",
    "gasUsed",
    "timestamp",
    "extraData",
    "mixHash",
    "nonce",
    "baseFeePerGas",
    "withdrawalsRoot",
    "blobGasUsed",
    "excessBlobGas",
    "parentBeaconBlockRoot",
    "requestsHash",
)


def header_from_rpc(block: Mapping[str, Any]) -> Header:
    """Build a ``Header`` from an ``eth_getBlockBy*`` JSON object (anvil, Besu, the devnet).

    The block's own ``hash`` is not checked here: for QBFT chains it follows the BFT rule, not
    ``header_hash``. Callers compare it with ``header_hash`` / ``qbft_block_hash``.
    """
    if not isinstance(block, Mapping):
        raise DecodeError("RPC block is not a JSON object", type=type(block).__name__)
    values: list[Any] = []
    for index, ((_name, kind, size), key) in enumerate(zip(_FIELDS, _RPC_KEYS, strict=True)):
        raw = block.get(key)
        if raw is None:
            if index < 15:
                # geth, Besu and anvil serve all 15 base fields, so a missing one is a bad answer.
                raise DecodeError("RPC block lacks a header field", field=key)
            values.append(None)
            continue
        if kind == "i":
            values.append(rpc_quantity(raw, key, 8 * size))
        else:
            values.append(rpc_data(raw, key, size if kind == "b" else None))
    return Header(*values)


def rpc_hash(block: Mapping[str, Any]) -> Hash32:
    """The ``hash`` a node claims for the block, validated as 32 bytes."""
    return Hash32(rpc_data(block.get("hash"), "hash", 32))
