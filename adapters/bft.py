"""BFT (Besu QBFT and IBFT 2.0) extraData codec, block hashing and commit seals.

Formats (docs/light-client-formats.md §1.2-1.3; Besu ``QbftExtraDataCodec``,
``IbftExtraDataCodec``, ``BftBlockHashing``; GoQuorum ``core/types/istanbul.go``):

* QBFT extraData = ``RLP([vanity, [validator…], vote, round, [seal…]])``; vote absent = ``c0``,
  vote = ``[recipient, 0x81ff]`` (add) or ``[recipient, 0x80]`` (drop); round is a minimal
  big-endian scalar (0 -> ``80``).
* IBFT 2.0: same list, vote absent = ``80``, drop = ``00``, round is exactly 4 bytes.
* QBFT block hash = keccak(header RLP with extra = ``[vanity, validators, vote, 0x80, 0xc0]``);
  commit digest = the same with the real round. Genesis (number 0) is hashed raw.
* IBFT 2.0 block hash drops round and seals (3-item list); commit digest keeps the round (4 items).
* A commit seal is ``r‖s‖v`` (65 B, v ∈ {0,1}) over the 32-byte digest itself (no extra hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import coincurve

from adapters.errors import DecodeError, HeaderInvalid
from adapters.headers import Header, encode_spliced, header_encoder, header_hash
from adapters.rlpcodec import (
    RlpItem,
    keccak,
    rlp_decode_list,
    rlp_encode_strings,
    rlp_list,
    rlp_string,
    scalar_bytes,
)
from adapters.types import Address, Hash32

__all__ = [
    "BFT_MIX_HASH",
    "MAX_QBFT_ROUND",
    "SECP256K1_N",
    "BftExtraData",
    "Vote",
    "address_of_key",
    "decode_ibft2_extra",
    "decode_qbft_extra",
    "encode_ibft2_extra",
    "encode_qbft_extra",
    "ibft2_block_hash",
    "ibft2_commit_digest",
    "qbft_block_hash",
    "qbft_commit_digest",
    "qbft_hashes",
    "qbft_quorum",
    "recover_seal_signer",
    "seal_qbft_header",
    "sign_commit_seal",
    "with_qbft_extra",
]

BFT_MIX_HASH: Final = bytes.fromhex(
    "63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
)
SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_QBFT_VOTE_ADD: Final = b"\xff"  # RLP 0x81ff
_QBFT_VOTE_DROP: Final = b""  # RLP 0x80
_IBFT2_VOTE_ADD: Final = b"\xff"
_IBFT2_VOTE_DROP: Final = b"\x00"  # RLP 0x00
_MAX_QBFT_ROUND_BYTES: Final = 4  # Besu reads the round with readIntScalar into an int
# ...a signed Java int: a round >= 2^31 reads negative and Besu re-encodes it as 8 bytes when it
# hashes the commit digest, so no seal over the header's own 4-byte round verifies there.
MAX_QBFT_ROUND: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Vote:
    """A validator vote carried by the block proposer: add or drop ``recipient``."""

    recipient: Address
    add: bool


@dataclass(frozen=True, slots=True)
class BftExtraData:
    """Decoded BFT extraData. ``seals`` are 65-byte ``r‖s‖v`` commit seals, v ∈ {0,1}."""

    vanity: bytes
    validators: tuple[Address, ...]
    vote: Vote | None
    round: int
    seals: tuple[bytes, ...]


# --- codec -------------------------------------------------------------------------------------


def _decode_validators(item: object, check_order: bool) -> tuple[Address, ...]:
    if not isinstance(item, list):
        raise DecodeError("extraData validators is not a list")
    for index, addr in enumerate(item):
        if not isinstance(addr, bytes) or len(addr) != 20:
            raise DecodeError("extraData validator is not a 20-byte address", index=index)
    validators = tuple(Address(a) for a in item)
    if check_order:
        _check_sorted(validators)
    return validators


def _check_sorted(validators: Sequence[bytes]) -> None:
    for index in range(1, len(validators)):
        prev, cur = validators[index - 1], validators[index]
        if cur == prev:
            raise DecodeError("extraData lists a validator twice", validator=cur)
        if cur < prev:
            # Besu BftValidatorsValidationRule: the list must be in ascending order.
            raise DecodeError("extraData validators are not sorted ascending", index=index)


def _decode_seals(item: object) -> tuple[bytes, ...]:
    if not isinstance(item, list):
        raise DecodeError("extraData seals is not a list")
    for index, seal in enumerate(item):
        if not isinstance(seal, bytes) or len(seal) != 65:
            raise DecodeError("extraData commit seal is not 65 bytes", index=index)
    return tuple(item)


def _decode_vote_pair(item: list[RlpItem], add: bytes, drop: bytes) -> Vote:
    if len(item) != 2:
        raise DecodeError("extraData vote must be [recipient, type]", items=len(item))
    recipient, kind = item
    if not isinstance(recipient, bytes) or len(recipient) != 20:
        raise DecodeError("extraData vote recipient is not a 20-byte address")
    if kind == add:
        return Vote(Address(recipient), True)
    if kind == drop:
        return Vote(Address(recipient), False)
    raise DecodeError("extraData vote type is unknown", vote_type=kind)


def _split_extra(
    data: bytes, kind: str, check_order: bool
) -> tuple[bytes, tuple[Address, ...], RlpItem, RlpItem, RlpItem]:
    """The five extraData items, with vanity and validators already checked."""
    items = rlp_decode_list(data, f"{kind} extraData")
    if len(items) != 5:
        raise DecodeError(f"{kind} extraData must have 5 items", items=len(items))
    vanity, validators_item, vote_item, round_item, seals_item = items
    if not isinstance(vanity, bytes):
        raise DecodeError(f"{kind} extraData vanity is not a byte string")
    validators = _decode_validators(validators_item, check_order)
    return vanity, validators, vote_item, round_item, seals_item


def decode_qbft_extra(data: bytes, *, check_order: bool = True) -> BftExtraData:
    """Decode QBFT extraData strictly (``DecodeError`` names what is wrong).

    ``check_order=False`` accepts an unsorted or duplicated validator list (only for reading
    foreign vectors; headers carrying such a list are invalid under Besu's rules).
    """
    vanity, validators, vote_item, round_item, seals_item = _split_extra(data, "QBFT", check_order)
    if not isinstance(vote_item, list):
        raise DecodeError("QBFT extraData vote is not a list")
    vote = None if not vote_item else _decode_vote_pair(vote_item, _QBFT_VOTE_ADD, _QBFT_VOTE_DROP)
    if not isinstance(round_item, bytes):
        raise DecodeError("QBFT extraData round is not a scalar")
    if round_item[:1] == b"\x00":
        raise DecodeError("QBFT extraData round has leading zeros", round=round_item)
    if len(round_item) > _MAX_QBFT_ROUND_BYTES:
        raise DecodeError("QBFT extraData round is too large", size=len(round_item))
    if int.from_bytes(round_item, "big") > MAX_QBFT_ROUND:
        raise DecodeError(
            "QBFT extraData round does not fit Besu's signed int",
            round=round_item,
            limit=MAX_QBFT_ROUND,
        )
    return BftExtraData(
        vanity=vanity,
        validators=validators,
        vote=vote,
        round=int.from_bytes(round_item, "big"),
        seals=_decode_seals(seals_item),
    )


def _check_extra(x: BftExtraData, check_order: bool, round_bytes: int) -> None:
    if not isinstance(x.vanity, bytes):
        raise DecodeError("extraData vanity must be bytes")
    for index, addr in enumerate(x.validators):
        if not isinstance(addr, bytes) or len(addr) != 20:
            raise DecodeError("extraData validator is not a 20-byte address", index=index)
    if check_order:
        _check_sorted(x.validators)
    if x.vote is not None and (
        not isinstance(x.vote.recipient, bytes) or len(x.vote.recipient) != 20
    ):
        raise DecodeError("extraData vote recipient is not a 20-byte address")
    if isinstance(x.round, bool) or not isinstance(x.round, int) or x.round < 0:
        raise DecodeError("extraData round must be a non-negative int", round=x.round)
    if x.round.bit_length() > round_bytes * 8:
        raise DecodeError("extraData round is too large", round=x.round)
    for index, seal in enumerate(x.seals):
        if not isinstance(seal, bytes) or len(seal) != 65:
            raise DecodeError("extraData commit seal is not 65 bytes", index=index)


def _encode_vote(vote: Vote | None, absent: bytes, add: bytes, drop: bytes) -> bytes:
    """RLP of the vote item: ``absent`` (already encoded) or ``[recipient, add|drop]``."""
    if vote is None:
        return absent
    return rlp_encode_strings([vote.recipient, add if vote.add else drop])


def _qbft_round(round_: int) -> bytes:
    return rlp_string(scalar_bytes(round_))


def _qbft_head(x: BftExtraData) -> bytes:
    """Encoded vanity, validators and vote: the part shared by every QBFT hashing variant."""
    vote = _encode_vote(x.vote, b"\xc0", _QBFT_VOTE_ADD, _QBFT_VOTE_DROP)
    return rlp_string(x.vanity) + rlp_encode_strings(x.validators) + vote


def encode_qbft_extra(x: BftExtraData, *, check_order: bool = True) -> bytes:
    """Encode QBFT extraData. Validates sizes (and validator order unless ``check_order=False``,
    which exists to build invalid headers in tests)."""
    _check_extra(x, check_order, _MAX_QBFT_ROUND_BYTES)
    return rlp_list([_qbft_head(x), _qbft_round(x.round), rlp_encode_strings(x.seals)])


def decode_ibft2_extra(data: bytes, *, check_order: bool = True) -> BftExtraData:
    """Decode Besu IBFT 2.0 extraData strictly (vote absent = ``80``, round = 4 bytes)."""
    vanity, validators, vote_item, round_item, seals_item = _split_extra(data, "IBFT2", check_order)
    vote: Vote | None = None
    if isinstance(vote_item, list):
        vote = _decode_vote_pair(vote_item, _IBFT2_VOTE_ADD, _IBFT2_VOTE_DROP)
    elif vote_item:
        raise DecodeError("IBFT2 extraData vote must be empty or a list", vote=vote_item)
    if not isinstance(round_item, bytes) or len(round_item) != 4:
        raise DecodeError("IBFT2 extraData round must be exactly 4 bytes")
    return BftExtraData(
        vanity=vanity,
        validators=validators,
        vote=vote,
        round=int.from_bytes(round_item, "big"),
        seals=_decode_seals(seals_item),
    )


def _ibft2_items(x: BftExtraData) -> list[bytes]:
    vote = _encode_vote(x.vote, b"\x80", _IBFT2_VOTE_ADD, _IBFT2_VOTE_DROP)
    return [rlp_string(x.vanity), rlp_encode_strings(x.validators), vote]


def encode_ibft2_extra(x: BftExtraData, *, check_order: bool = True) -> bytes:
    """Encode Besu IBFT 2.0 extraData (round as 4 fixed bytes)."""
    _check_extra(x, check_order, 4)
    return rlp_list(
        [*_ibft2_items(x), rlp_string(x.round.to_bytes(4, "big")), rlp_encode_strings(x.seals)]
    )


# --- hashing -----------------------------------------------------------------------------------


def _hashes_with_extras(
    header: Header, block_extra: bytes, commit_extra: bytes
) -> tuple[Hash32, Hash32]:
    """keccak of ``header`` with each extraData; the other fields are encoded only once."""
    parts = header_encoder(header)
    return (
        Hash32(keccak(encode_spliced(parts, block_extra))),
        Hash32(keccak(encode_spliced(parts, commit_extra))),
    )


def qbft_hashes(header: Header, extra: BftExtraData | None = None) -> tuple[Hash32, Hash32]:
    """(block hash, commit digest) of a QBFT header in one pass.

    ``extra`` is the header's decoded extraData when the caller already has it. For genesis
    both values are the raw header hash (genesis carries no commit seals).
    """
    if header.number == 0:
        raw = header_hash(header)
        return raw, raw
    if extra is None:
        extra = decode_qbft_extra(header.extra_data)
    head = _qbft_head(extra)
    return _hashes_with_extras(
        header,
        rlp_list([head, b"\x80", b"\xc0"]),
        rlp_list([head, _qbft_round(extra.round), b"\xc0"]),
    )


def qbft_block_hash(header: Header) -> Hash32:
    """The QBFT block hash (round 0, no seals; genesis hashed raw). Equals the child's
    parentHash and what Besu serves as the block ``hash``."""
    return qbft_hashes(header)[0]


def qbft_commit_digest(header: Header) -> Hash32:
    """The digest each committer signs: the header with its real round and no seals."""
    return qbft_hashes(header)[1]


def ibft2_hashes(header: Header, extra: BftExtraData | None = None) -> tuple[Hash32, Hash32]:
    """(block hash, commit digest) of a Besu IBFT 2.0 header."""
    if header.number == 0:
        raw = header_hash(header)
        return raw, raw
    if extra is None:
        extra = decode_ibft2_extra(header.extra_data)
    items = _ibft2_items(extra)
    return _hashes_with_extras(
        header, rlp_list(items), rlp_list([*items, rlp_string(extra.round.to_bytes(4, "big"))])
    )


def ibft2_block_hash(header: Header) -> Hash32:
    """Besu IBFT 2.0 block hash (extra = [vanity, validators, vote])."""
    return ibft2_hashes(header)[0]


def ibft2_commit_digest(header: Header) -> Hash32:
    """Besu IBFT 2.0 commit-seal digest (extra = [vanity, validators, vote, round])."""
    return ibft2_hashes(header)[1]


def with_qbft_extra(header: Header, extra: BftExtraData, *, check_order: bool = True) -> Header:
    """``header`` with its extraData replaced by the encoding of ``extra``."""
    return replace(header, extra_data=encode_qbft_extra(extra, check_order=check_order))


# --- seals -------------------------------------------------------------------------------------


def sign_commit_seal(digest: bytes, private_key: bytes) -> bytes:
    """Sign ``digest`` (32 bytes, not hashed again) and return the 65-byte ``r‖s‖v`` seal."""
    if len(digest) != 32:
        raise ValueError(f"commit digest must be 32 bytes, got {len(digest)}")
    seal: bytes = coincurve.PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return seal


def address_of_key(private_key: bytes) -> Address:
    """The Ethereum address of a secp256k1 private key."""
    public = coincurve.PrivateKey(private_key).public_key.format(compressed=False)
    return Address(keccak(public[1:])[12:])


# Signer addresses by public key: validators seal every block, so the same few keys recur and
# the keccak of the public key (a sizeable part of one recovery here) is worth caching.
_ADDRESS_CACHE: dict[bytes, Address] = {}
_ADDRESS_CACHE_MAX: Final = 4096


def _recover_public(digest: bytes, seal: bytes) -> bytes | None:
    try:
        public: bytes = coincurve.PublicKey.from_signature_and_message(
            seal, digest, hasher=None
        ).format(compressed=False)
    except (ValueError, TypeError):
        return None
    return public


def recover_seal_signer(digest: bytes, seal: bytes) -> Address:
    """The address that made ``seal`` over ``digest``; ``HeaderInvalid`` for malformed seals."""
    if len(digest) != 32:
        raise HeaderInvalid("commit digest must be 32 bytes", size=len(digest))
    if not isinstance(seal, bytes) or len(seal) != 65:
        raise HeaderInvalid("commit seal is not 65 bytes", size=len(seal))
    v = seal[64]
    if v > 1:
        raise HeaderInvalid("commit seal has an invalid recovery id", v=v)
    r = int.from_bytes(seal[:32], "big")
    s = int.from_bytes(seal[32:64], "big")
    if not 0 < r < SECP256K1_N:
        raise HeaderInvalid("commit seal r is out of range", seal=seal)
    if not 0 < s < SECP256K1_N:
        raise HeaderInvalid("commit seal s is out of range", seal=seal)
    if s > SECP256K1_N // 2:
        # Besu signs with low s (normalised); the high-s twin of a seal is a second encoding of
        # the same signature. The on-chain QbftLightClient refuses it, so this must too, or a
        # relayer would pay for a header the contract reverts.
        raise HeaderInvalid("commit seal s is in the upper half (malleable encoding)", seal=seal)
    public = _recover_public(digest, seal)
    if public is None:
        raise HeaderInvalid("commit seal does not recover a public key", seal=seal)
    address = _ADDRESS_CACHE.get(public)
    if address is None:
        if len(_ADDRESS_CACHE) >= _ADDRESS_CACHE_MAX:
            _ADDRESS_CACHE.clear()
        address = Address(keccak(public[1:])[12:])
        _ADDRESS_CACHE[public] = address
    return address


def qbft_quorum(n: int) -> int:
    """Besu ``BftHelpers.calculateRequiredValidatorQuorum``: ceil(2n/3)."""
    if n < 0:
        raise ValueError(f"validator count must be >= 0, got {n}")
    return -(-2 * n // 3)


def seal_qbft_header(
    header: Header, private_keys: Sequence[bytes], *, round_: int | None = None
) -> Header:
    """Return ``header`` with commit seals from ``private_keys`` over its commit digest.

    The header's extraData must be QBFT extraData; existing seals are replaced. ``round_``
    overrides the round written into the header before signing.
    """
    extra = decode_qbft_extra(header.extra_data)
    if round_ is not None:
        extra = replace(extra, round=round_)
    unsealed = with_qbft_extra(header, replace(extra, seals=()))
    digest = qbft_hashes(unsealed, replace(extra, seals=()))[1]
    seals = tuple(sign_commit_seal(digest, key) for key in private_keys)
    return with_qbft_extra(header, replace(extra, seals=seals))
