"""EIP-712 messages the xgate contracts verify, built once for every signer and check.

- ``permit_message``: an EIP-2612 ``Permit`` of an OpenZeppelin ``ERC20Permit`` token (domain
  name = the token's name, version "1"); dApps sign it to lock without a prior approval.
- ``attested_header_message``: ``AttestedHeaderStore``'s ``Header(uint256 chainId,uint64
  number,bytes32 blockHash,bytes32 receiptsRoot,bytes32 stateRoot)`` (domain "xgate
  AttestedHeaderStore", version "1"); attesters sign it, the store's ``headerDigest`` view is
  its digest.
- ``htlc_claim_message``: the HTLCs' relayed ``Claim(bytes32 swapKey,address submitter,address
  destination)`` (domain "xgate <contract>", version "1"); the claimer signs it so a keeper can
  claim for them, ``claimDigest`` is its digest.
- ``receivable_acknowledgement_message``: ``Receivable``'s ``Acknowledgement(uint256 tokenId,
  bytes32 documentHash,uint128 faceValue,uint64 dueDate,uint256 nonce,uint256 deadline)``
  (domain "xgate Receivable", version "1"); the debtor signs it so the creditor can submit
  ``acknowledgeBySig``, ``acknowledgementDigest`` is its digest.
- ``financing_offer_message``: ``FinancingDesk``'s ``Offer(address asset,uint256 tokenId,address
  seller,address buyer,address payToken,uint256 price,uint128 advance,uint16 discountBps,uint256
  nonce,uint256 deadline)`` (domain "xgate FinancingDesk", version "1"); a receivable's holder
  signs it so a financier can take it with ``finance``, ``offerDigest`` is its digest.

Each returns eth_account's ``SignableMessage`` (``LocalAccount.sign_message`` signs it);
``digest`` gives the 32-byte hash the contract recovers the signer from. The type strings
mirror the Solidity typehashes (``contracts/src/htlc/HtlcBase.sol``,
``contracts/src/lightclient/AttestedHeaderStore.sol``, OpenZeppelin ``ERC20Permit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import (
    is_checksum_address,
    is_checksum_formatted_address,
    is_hex_address,
    to_checksum_address,
)

from adapters.errors import FatalError
from adapters.mpt import keccak256

__all__ = [
    "HTLC_DOMAIN_NAMES",
    "FinancingOffer",
    "HeaderData",
    "HtlcName",
    "InvalidTypedData",
    "attested_header_message",
    "digest",
    "financing_offer_message",
    "htlc_claim_message",
    "permit_message",
    "receivable_acknowledgement_message",
    "signature_vrs",
]

# ``AttestedHeaderStore.HeaderData``: (chainId, number, blockHash, receiptsRoot, stateRoot).
HeaderData = tuple[int, int, bytes, bytes, bytes]
HtlcName = Literal["HtlcNative", "HtlcErc20", "HtlcErc721"]
HTLC_DOMAIN_NAMES: dict[str, str] = {
    "HtlcNative": "xgate HtlcNative",
    "HtlcErc20": "xgate HtlcErc20",
    "HtlcErc721": "xgate HtlcErc721",
}
ATTESTED_HEADER_STORE_DOMAIN = "xgate AttestedHeaderStore"
RECEIVABLE_DOMAIN = "xgate Receivable"
FINANCING_DESK_DOMAIN = "xgate FinancingDesk"
VERSION = "1"  # every xgate contract and OpenZeppelin ERC20Permit

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_PERMIT_TYPE = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
_HEADER_TYPE = [
    {"name": "chainId", "type": "uint256"},
    {"name": "number", "type": "uint64"},
    {"name": "blockHash", "type": "bytes32"},
    {"name": "receiptsRoot", "type": "bytes32"},
    {"name": "stateRoot", "type": "bytes32"},
]
_CLAIM_TYPE = [
    {"name": "swapKey", "type": "bytes32"},
    {"name": "submitter", "type": "address"},
    {"name": "destination", "type": "address"},
]

_ACKNOWLEDGEMENT_TYPE = [
    {"name": "tokenId", "type": "uint256"},
    {"name": "documentHash", "type": "bytes32"},
    {"name": "faceValue", "type": "uint128"},
    {"name": "dueDate", "type": "uint64"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

_OFFER_TYPE = [
    {"name": "asset", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "seller", "type": "address"},
    {"name": "buyer", "type": "address"},
    {"name": "payToken", "type": "address"},
    {"name": "price", "type": "uint256"},
    {"name": "advance", "type": "uint128"},
    {"name": "discountBps", "type": "uint16"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
_ZERO_ADDRESS = b"\0" * 20


class InvalidTypedData(FatalError):
    """A field of an EIP-712 message is out of its Solidity type's range (never signed)."""


def permit_message(
    token_name: str,
    token_version: str,
    chain_id: int,
    token: str | bytes,
    owner: str | bytes,
    spender: str | bytes,
    value: int,
    nonce: int,
    deadline: int,
) -> SignableMessage:
    """EIP-2612 ``Permit(owner, spender, value, nonce, deadline)`` of ``token`` on ``chain_id``."""
    return _message(
        "Permit",
        _PERMIT_TYPE,
        _domain(token_name, token_version, chain_id, token),
        {
            "owner": _address("owner", owner),
            "spender": _address("spender", spender),
            "value": _uint("value", value, 256),
            "nonce": _uint("nonce", nonce, 256),
            "deadline": _uint("deadline", deadline, 256),
        },
    )


def attested_header_message(
    chain_id_of_store_chain: int, store_address: str | bytes, header: HeaderData
) -> SignableMessage:
    """The ``Header`` an attester signs for the store at ``store_address``."""
    if len(header) != 5:
        raise InvalidTypedData(
            "header is not (chainId, number, blockHash, receiptsRoot, stateRoot)"
        )
    chain_id, number, block_hash, receipts_root, state_root = header
    return _message(
        "Header",
        _HEADER_TYPE,
        _domain(ATTESTED_HEADER_STORE_DOMAIN, VERSION, chain_id_of_store_chain, store_address),
        {
            "chainId": _uint("chainId", chain_id, 256),
            "number": _uint("number", number, 64),
            "blockHash": _bytes32("blockHash", block_hash),
            "receiptsRoot": _bytes32("receiptsRoot", receipts_root),
            "stateRoot": _bytes32("stateRoot", state_root),
        },
    )


def htlc_claim_message(
    htlc_name: HtlcName,
    chain_id: int,
    htlc: str | bytes,
    swap_key: bytes,
    submitter: str | bytes,
    destination: str | bytes,
) -> SignableMessage:
    """The ``Claim`` a claimer signs so ``submitter`` may claim swap ``swap_key`` of the
    ``htlc_name`` contract at ``htlc`` and pay ``destination``."""
    name = HTLC_DOMAIN_NAMES.get(htlc_name)
    if name is None:
        raise InvalidTypedData("unknown HTLC contract", htlc_name=htlc_name)
    return _message(
        "Claim",
        _CLAIM_TYPE,
        _domain(name, VERSION, chain_id, htlc),
        {
            "swapKey": _bytes32("swapKey", swap_key),
            "submitter": _address("submitter", submitter),
            "destination": _address("destination", destination),
        },
    )


def receivable_acknowledgement_message(
    chain_id: int,
    receivable: str | bytes,
    token_id: int,
    document_hash: bytes,
    face_value: int,
    due_date: int,
    nonce: int,
    deadline: int,
) -> SignableMessage:
    """The ``Acknowledgement`` a receivable's debtor signs: it owes ``face_value`` on
    ``due_date`` under ``document_hash`` (``nonce``: the debtor's ``nonces`` on the contract)."""
    return _message(
        "Acknowledgement",
        _ACKNOWLEDGEMENT_TYPE,
        _domain(RECEIVABLE_DOMAIN, VERSION, chain_id, receivable),
        {
            "tokenId": _uint("tokenId", token_id, 256),
            "documentHash": _bytes32("documentHash", document_hash),
            "faceValue": _uint("faceValue", face_value, 128),
            "dueDate": _uint("dueDate", due_date, 64),
            "nonce": _uint("nonce", nonce, 256),
            "deadline": _uint("deadline", deadline, 256),
        },
    )


@dataclass(frozen=True, slots=True)
class FinancingOffer:
    """A holder's offer to sell receivable ``token_id`` of contract ``asset`` for ``price`` base
    units of ``pay_token`` (``FinancingDesk.Offer``). ``buyer`` empty: any financier; ``advance``
    (minor units of the receivable's currency) and ``discount_bps`` are what the financing
    record states; ``nonce`` any unused number of the seller's."""

    asset: bytes
    token_id: int
    seller: bytes
    pay_token: bytes
    price: int
    advance: int
    discount_bps: int
    nonce: int
    deadline: int
    buyer: bytes = _ZERO_ADDRESS

    def message_fields(self) -> dict[str, Any]:
        """The ``Offer`` struct, field checked (the order and names of the Solidity struct)."""
        return {
            "asset": _address("asset", self.asset),
            "tokenId": _uint("tokenId", self.token_id, 256),
            "seller": _address("seller", self.seller),
            "buyer": _address("buyer", self.buyer),
            "payToken": _address("payToken", self.pay_token),
            "price": _uint("price", self.price, 256),
            "advance": _uint("advance", self.advance, 128),
            "discountBps": _uint("discountBps", self.discount_bps, 16),
            "nonce": _uint("nonce", self.nonce, 256),
            "deadline": _uint("deadline", self.deadline, 256),
        }

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``Offer`` as the contract call takes it."""
        return tuple(self.message_fields().values())


def financing_offer_message(
    chain_id: int, desk: str | bytes, offer: FinancingOffer
) -> SignableMessage:
    """The ``Offer`` the seller signs for the ``FinancingDesk`` at ``desk`` on ``chain_id``."""
    return _message(
        "Offer", _OFFER_TYPE, _domain(FINANCING_DESK_DOMAIN, VERSION, chain_id, desk),
        offer.message_fields(),
    )  # fmt: skip


def digest(message: SignableMessage) -> bytes:
    """The EIP-712 hash ``keccak256(0x19 0x01 ‖ domainSeparator ‖ structHash)`` (what
    ``_hashTypedDataV4`` returns on chain and ``ecrecover`` checks)."""
    return keccak256(b"\x19" + message.version + message.header + message.body)


def signature_vrs(signature: bytes) -> tuple[int, bytes, bytes]:
    """``(v, r, s)`` of a 65-byte ``r ‖ s ‖ v`` signature, as ``permit(...)`` takes them."""
    if len(signature) != 65:
        raise InvalidTypedData("signature is not 65 bytes", length=len(signature))
    return signature[64], signature[:32], signature[32:64]


def _message(
    primary: str, fields: list[dict[str, str]], domain: dict[str, Any], message: dict[str, Any]
) -> SignableMessage:
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": _DOMAIN_TYPE, primary: fields},
            "primaryType": primary,
            "domain": domain,
            "message": message,
        }
    )


def _domain(name: str, version: str, chain_id: int, contract: str | bytes) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "chainId": _uint("chainId", chain_id, 256),
        "verifyingContract": _address("verifyingContract", contract),
    }


def _address(field: str, value: str | bytes) -> str:
    if isinstance(value, bytes) and len(value) == 20:
        return to_checksum_address(value)
    # A mixed-case string must carry a valid EIP-55 checksum (it catches a mistyped address).
    if (
        isinstance(value, str)
        and is_hex_address(value)
        and (not is_checksum_formatted_address(value) or is_checksum_address(value))
    ):
        return to_checksum_address(value)
    raise InvalidTypedData("not an address", field=field, value=repr(value))


def _uint(field: str, value: int, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise InvalidTypedData(f"not a uint{bits}", field=field, value=repr(value))
    return value


def _bytes32(field: str, value: bytes) -> bytes:
    # eth_account would left-pad a short value silently: a wrong hash must not be signed.
    if not isinstance(value, bytes) or len(value) != 32:
        raise InvalidTypedData("not 32 bytes", field=field, value=repr(value))
    return value
