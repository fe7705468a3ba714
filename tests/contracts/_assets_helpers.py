"""Helpers for the asset and credit contract tests: deployments, the payload vectors, relaying.

The contracts talk through ``AssetsTestEndpoint`` (contracts/src/test): ``send`` records the
message, ``deliver`` calls the receiver's ``onMessage`` as the real endpoint would after it
verified a receipt proof. Relaying a message is reading it from one test endpoint and
delivering it through another (or the same one).

``python -m tests.contracts._assets_helpers`` rewrites tests/vectors/asset_payloads.json: the
valid vectors' bytes come from the Solidity encoders (AssetsPayloadHarness on anvil), so the
Python codec is checked against Solidity's output, not against itself.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from adapters.mpt import keccak256
from adapters.types import Address, Hash32
from gateway.domain.disclosure import terms_commitment
from gateway.domain.payloads import (
    NO_FINANCING,
    CreditAttestation,
    CreditRevocation,
    Erc20Release,
    Erc20Transfer,
    Erc721PrivateTransfer,
    Erc721Release,
    Erc721Transfer,
    Financing,
    Payload,
    ReceivablePayment,
    payload_to_dict,
)
from harness import Chain, Reverted

VECTORS_PATH = Path(__file__).parent.parent / "vectors" / "asset_payloads.json"

ADMIN, ISSUER, ALICE, BOB, MALLORY = 0, 1, 2, 3, 4
FOREIGN = 777  # the gateway's chain id when vault and gateway share one test chain
ISSUER_ROLE = keccak256(b"ISSUER_ROLE")
MINTER_ROLE = keccak256(b"MINTER_ROLE")
ARBITER_ROLE = keccak256(b"ARBITER_ROLE")
PUBLISHER_ROLE = keccak256(b"PUBLISHER_ROLE")


def raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


GAS = 2_000_000  # a fixed limit skips eth_estimateGas: halves a devnet transaction


def send(chain: Chain, call: Any, sender: int = 0) -> TxReceipt:
    """``chain.send`` with a fixed gas limit (still dry-runs first, so reverts raise Reverted)."""
    return chain.send(call, sender=sender, gas=GAS)


def k(text: str) -> Hash32:
    """keccak256 of a label (document and report hashes, role ids)."""
    return keccak256(text.encode())


def revert_args(reverted: Reverted) -> tuple[Any, ...]:
    """A custom error's arguments with addresses checksummed, to compare with web3 addresses."""
    from web3 import Web3

    return tuple(
        Web3.to_checksum_address(a) if isinstance(a, str) and len(a) == 42 else a
        for a in reverted.args_
    )


def logs(contract: Contract, name: str, receipt: Any) -> list[dict[str, Any]]:
    """Decoded ``name`` events of ``contract`` in ``receipt``, as plain dicts of their arguments."""
    found = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == contract.address]


def draft_acknowledged(
    chain: Chain, receivable: Contract, financing: tuple[Any, ...], drafter: int = 0
) -> int:
    """Draft ``financing`` (debtor, creditor, face value, currency, due date, document hash) as
    ``drafter`` (its creditor or an issuer) and acknowledge it as its debtor (one of the chain's
    dev accounts): a financeable receivable of the creditor. Returns the token id."""
    receipt = chain.send(receivable.functions.draft(financing), sender=drafter)
    (event,) = logs(receivable, "Drafted", receipt)
    token_id = int(event["tokenId"])
    debtor = [a.address.lower() for a in chain.accounts].index(str(financing[0]).lower())
    chain.send(receivable.functions.acknowledge(token_id), sender=debtor)
    return token_id


def grade32(text: str) -> bytes:
    return text.encode("ascii").ljust(32, b"\0")


# -- payload vectors ------------------------------------------------------------------------

A1, A2, A3, A4, A5 = (Address(bytes([b]) * 20) for b in (0x11, 0x22, 0x33, 0x44, 0x55))
DOC = Hash32(k("invoice INV-2025-0001.pdf"))
REPORT = Hash32(k("rating report 2025Q3"))
U256 = 2**256 - 1

VALID_CASES: list[tuple[str, Payload]] = [
    ("erc20_transfer", Erc20Transfer(A1, 20250, A2, 1_000_000 * 10**18)),
    ("erc20_transfer_max", Erc20Transfer(Address(b"\xff" * 20), U256, Address(b"\xfe" * 20), U256)),
    ("erc20_release", Erc20Release(A1, 20250, A3, 1)),
    ("erc721_release", Erc721Release(A1, 31337, A3, 2**255)),
    (
        "erc721_transfer_receivable",
        Erc721Transfer(A1, 20250, A2, 1, Financing(A3, A4, 125_000_000, "CNY", 1_767_225_600, DOC)),
    ),
    ("erc721_transfer_without_financing", Erc721Transfer(A1, 20250, A2, 42, NO_FINANCING)),
    (
        "erc721_transfer_max_fields",
        Erc721Transfer(
            A5,
            U256,
            A2,
            U256,
            Financing(A3, A4, 2**128 - 1, "ZZZ", 2**64 - 1, Hash32(b"\xff" * 32)),
        ),
    ),
    (
        "credit_attestation",
        CreditAttestation(A1, 1, 742, "AA-", A2, 1_760_000_000, 1_791_536_000, REPORT),
    ),
    (
        "credit_attestation_edges",
        CreditAttestation(
            A1, 2**64 - 1, 1000, "~" * 32, A2, 2**64 - 1, 2**64 - 1, Hash32(b"\x01" * 32)
        ),
    ),
    ("credit_attestation_score_zero", CreditAttestation(A3, 7, 0, " C", A4, 0, 1, REPORT)),
    ("credit_revocation", CreditRevocation(A1, 3, A2)),
    (
        "receivable_payment",
        ReceivablePayment(A1, 20250, 7, A2, 250_000 * 10**4, 1_000_00, False),
    ),
    (
        "receivable_payment_max",
        ReceivablePayment(Address(b"\xff" * 20), U256, U256, A5, U256, 2**128 - 1, True),
    ),
    (
        "erc721_private_transfer",
        Erc721PrivateTransfer(
            A1,
            20250,
            A2,
            1,
            terms_commitment(
                k("salt 1"), Financing(A3, A4, 125_000_000, "CNY", 1_767_225_600, DOC)
            ),
        ),
    ),
    (
        "erc721_private_transfer_max",
        Erc721PrivateTransfer(A5, U256, A2, U256, Hash32(b"\xff" * 32)),
    ),
    (
        "receivable_payment_settling",
        ReceivablePayment(A1, 20250, 7, A2, 250_000 * 10**4, 1_250_000_00, True),
    ),
]
# (name, salt, terms, commitment): AssetPayloads.termsCommitment agrees (test_receivable_privacy)
COMMITMENT_CASES: list[tuple[str, Hash32, Financing]] = [
    ("receivable", k("salt 1"), Financing(A3, A4, 125_000_000, "CNY", 1_767_225_600, DOC)),
    ("max_fields", Hash32(b"\xff" * 32), VALID_CASES[6][1].financing),  # type: ignore[union-attr]
    ("no_financing", Hash32(b"\x01" * 32), NO_FINANCING),
]


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def _invalid_cases() -> list[tuple[str, bytes, str, str | None]]:
    """(name, bytes, why, the Solidity decoder's error or None when only Python refuses it).

    None marks value rules the sending contract enforces (score range, ISO currency, grade
    spelling): receivers trust their registered counterpart for those, so only the ABI shape
    is checked on chain.
    """
    from gateway.domain.payloads import encode_payload

    erc20 = encode_payload(VALID_CASES[0][1])
    erc721 = encode_payload(VALID_CASES[4][1])
    att = encode_payload(VALID_CASES[7][1])
    rev = encode_payload(VALID_CASES[10][1])
    pay = encode_payload(VALID_CASES[11][1])
    private = encode_payload(VALID_CASES[13][1])
    return [
        ("empty", b"", "no kind tag", "MalformedPayload"),
        ("short_kind_tag", b"\0" * 31, "shorter than one word", "MalformedPayload"),
        ("kind_word_over_255", _patch(erc20, 0, _word(0x101)), "kind is a uint8", "MalformedPayload"),
        ("unknown_kind_0", _patch(erc20, 0, _word(0)), "kind 0 is not defined", "UnsupportedPayload"),
        ("unknown_kind_7", _patch(erc20, 0, _word(7)), "kind 7 is not defined", "UnsupportedPayload"),
        ("private_truncated", private[:-32], "one word short", "MalformedPayload"),
        ("private_as_erc721", _patch(erc721, 0, _word(6)), "kind 6 with the kind 2 length", "MalformedPayload"),
        ("erc721_as_private", _patch(private, 0, _word(2)), "kind 2 with the kind 6 length", "MalformedPayload"),
        ("payment_truncated", pay[:-32], "one word short (no settled)", "MalformedPayload"),
        ("payment_dirty_total_paid", _patch(pay, 6 * 32, b"\x01"), "uint128 padding", "EmptyRevert"),
        ("payment_settled_word_2", _patch(pay, 7 * 32, _word(2)), "settled is a bool", "EmptyRevert"),
        ("payment_dirty_settled", _patch(pay, 7 * 32, b"\x01"), "bool padding", "EmptyRevert"),
        ("erc20_truncated", erc20[:-32], "one word short", "MalformedPayload"),
        ("erc20_extra_word", erc20 + b"\0" * 32, "one word too long", "MalformedPayload"),
        ("erc20_extra_byte", erc20 + b"\0", "one byte too long", "MalformedPayload"),
        ("erc721_as_erc20_length", erc721[:160], "kind 2 with the kind 1 length", "MalformedPayload"),
        ("erc20_dirty_address", _patch(erc20, 32, b"\x01"), "address padding", "EmptyRevert"),
        (
            "erc721_dirty_face_value",
            _patch(erc721, 7 * 32, b"\x01"),
            "uint128 padding",
            "EmptyRevert",
        ),
        (
            "erc721_dirty_currency",
            _patch(erc721, 8 * 32 + 3, b"\x01"),
            "bytes3 padding",
            "EmptyRevert",
        ),
        ("attestation_dirty_version", _patch(att, 2 * 32, b"\x01"), "uint64 padding", "EmptyRevert"),
        ("attestation_dirty_score", _patch(att, 3 * 32 + 29, b"\x01"), "uint16 padding", "EmptyRevert"),
        ("revocation_truncated", rev[:-1], "one byte short", "MalformedPayload"),
        (
            "erc721_lowercase_currency",
            _patch(erc721, 8 * 32, b"cny"),
            "currency is 3 capitals",
            None,
        ),
        ("erc721_partial_currency", _patch(erc721, 8 * 32, b"C\0\0"), "currency half set", None),
        ("attestation_score_1001", _patch(att, 3 * 32, _word(1001)), "score above 1000", None),
        ("attestation_empty_grade", _patch(att, 4 * 32, b"\0" * 32), "grade empty", None),
        ("attestation_grade_inner_nul", _patch(att, 4 * 32, grade32("A\0B")), "NUL inside", None),
        ("attestation_grade_non_ascii", _patch(att, 4 * 32, b"\xc3\xa9"), "grade not ASCII", None),
    ]  # fmt: skip


# -- the Solidity side of the codec ---------------------------------------------------------


def _move(
    p: Erc20Transfer | Erc20Release | Erc721Release | Erc721Transfer | Erc721PrivateTransfer,
) -> tuple[Any, ...]:
    value = (
        p.token_id
        if isinstance(p, Erc721Release | Erc721Transfer | Erc721PrivateTransfer)
        else p.amount
    )
    return (_cs(p.token), p.home_chain_id, _cs(p.recipient), value)


def _cs(address: bytes) -> str:
    from web3 import Web3

    return Web3.to_checksum_address(address)


def harness_encode(harness: Contract, p: Payload) -> bytes:
    """The Solidity encoder's bytes for ``p``."""
    f = harness.functions
    match p:
        case Erc20Transfer() | Erc20Release() | Erc721Release():
            return bytes(f.encodeMove(int(p.kind), _move(p)).call())
        case Erc721Transfer():
            fin = p.financing
            financing = (
                _cs(fin.debtor),
                _cs(fin.creditor),
                fin.face_value,
                fin.currency.encode().ljust(3, b"\0"),
                fin.due_date,
                fin.document_hash,
            )
            return bytes(f.encodeErc721Transfer(_move(p), financing).call())
        case Erc721PrivateTransfer():
            return bytes(f.encodeErc721PrivateTransfer(_move(p), p.commitment).call())
        case ReceivablePayment():
            payment = (
                _cs(p.receivable), p.home_chain_id, p.token_id, _cs(p.token), p.amount,
                p.total_paid, p.settled,
            )  # fmt: skip
            return bytes(f.encodePayment(payment).call())
        case CreditAttestation():
            record = (
                _cs(p.subject),
                p.version,
                p.score,
                grade32(p.grade),
                _cs(p.issuer),
                p.issued_at,
                p.valid_until,
                p.report_hash,
            )
            return bytes(f.encodeAttestation(record).call())
        case CreditRevocation():
            return bytes(f.encodeRevocation(_cs(p.subject), p.version, _cs(p.issuer)).call())
    raise TypeError(p)


def harness_decode(harness: Contract, kind: str, data: bytes) -> Payload:
    """The Solidity decoder's reading of ``data``, as a Python payload."""
    f = harness.functions
    if kind in ("ERC20_TRANSFER", "ERC20_RELEASE", "ERC721_RELEASE"):
        k, (token, home, recipient, value) = f.decodeMove(data).call()
        classes: dict[int, type[Erc20Transfer | Erc20Release | Erc721Release]] = {
            1: Erc20Transfer,
            3: Erc20Release,
            4: Erc721Release,
        }
        move: Payload = classes[k](raw(token), home, raw(recipient), value)
        return move
    if kind == "ERC721_TRANSFER":
        (token, home, recipient, value), fin = f.decodeErc721Transfer(data).call()
        financing = Financing(
            raw(fin[0]), raw(fin[1]), fin[2], fin[3].rstrip(b"\0").decode(), fin[4], fin[5]
        )
        return Erc721Transfer(raw(token), home, raw(recipient), value, financing)
    if kind == "ERC721_PRIVATE_TRANSFER":
        (token, home, recipient, value), commitment = f.decodeErc721PrivateTransfer(data).call()
        return Erc721PrivateTransfer(raw(token), home, raw(recipient), value, Hash32(commitment))
    if kind == "RECEIVABLE_PAYMENT":
        rcv, home, token_id, token, amount, total, settled = f.decodePayment(data).call()
        return ReceivablePayment(raw(rcv), home, token_id, raw(token), amount, total, settled)
    if kind == "CREDIT_ATTESTATION":
        r = f.decodeAttestation(data).call()
        grade = r[3].rstrip(b"\0").decode()
        return CreditAttestation(raw(r[0]), r[1], r[2], grade, raw(r[4]), r[5], r[6], r[7])
    if kind == "CREDIT_REVOCATION":
        subject, version, issuer = f.decodeRevocation(data).call()
        return CreditRevocation(raw(subject), version, raw(issuer))
    raise ValueError(kind)


def build_vectors(harness: Contract) -> dict[str, Any]:
    valid = [
        {
            "name": name,
            "payload": payload_to_dict(p),
            "encoded": "0x" + harness_encode(harness, p).hex(),
        }
        for name, p in VALID_CASES
    ]
    invalid = [
        {"name": name, "encoded": "0x" + data.hex(), "why": why, "solidity_error": sol}
        for name, data, why, sol in _invalid_cases()
    ]
    return {
        "description": (
            "xgate asset/credit bridge payloads (gateway/domain/payloads.py, "
            "contracts/src/assets/AssetPayloads.sol, contracts/src/credit/CreditPayloads.sol). "
            "valid: bytes produced by the Solidity encoders. invalid: every decoder refuses them "
            "(solidity_error null = only the Python decoder checks that value rule; the sending "
            "contract enforces it). Regenerate: python -m tests.contracts._assets_helpers"
        ),
        "valid": valid,
        "invalid": invalid,
    }


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
    return data


# -- deployments ----------------------------------------------------------------------------


@dataclass
class AssetStack:
    """Vault + gateway + assets on one chain; the gateway poses as chain ``FOREIGN``."""

    chain: Chain
    endpoint: Contract
    vault: Contract
    gateway: Contract
    receivable: Contract
    token: Contract
    wrapped_token: Contract
    wrapped_receivable: Contract

    @property
    def home(self) -> int:
        return self.chain.chain_id


def deploy_asset_stack(chain: Chain) -> AssetStack:
    admin = chain.accounts[ADMIN].address
    home = chain.chain_id
    endpoint = chain.deploy("AssetsTestEndpoint", True)
    vault = chain.deploy("AssetVault", endpoint.address, admin)
    gateway = chain.deploy("WrappedAssetGateway", endpoint.address, admin)
    receivable = chain.deploy("Receivable", "Receivables", "RCV", admin)
    token = chain.deploy("SettlementToken", "Settlement CNY", "sCNY", 6, admin)
    wrapped_token = chain.deploy(
        "WrappedERC20", "Wrapped sCNY", "wsCNY", 6, gateway.address, home, token.address
    )
    wrapped_receivable = chain.deploy(
        "WrappedReceivable",
        "Wrapped Receivables",
        "wRCV",
        gateway.address,
        home,
        receivable.address,
    )
    send(chain, receivable.functions.grantRole(ISSUER_ROLE, chain.accounts[ISSUER].address))
    send(chain, receivable.functions.setBridgeVault(vault.address, True))
    send(chain, receivable.functions.setSettlementToken(b"CNY", token.address, 10**4))
    send(chain, token.functions.grantRole(MINTER_ROLE, admin))
    send(chain, vault.functions.setRemote(FOREIGN, gateway.address))
    send(chain, vault.functions.setRoute(token.address, FOREIGN, True))
    send(chain, vault.functions.setRoute(receivable.address, FOREIGN, True))
    send(chain, gateway.functions.setRemote(home, vault.address))
    send(chain, gateway.functions.registerWrapped(wrapped_token.address))
    send(chain, gateway.functions.registerWrapped(wrapped_receivable.address))
    return AssetStack(
        chain, endpoint, vault, gateway, receivable, token, wrapped_token, wrapped_receivable
    )


@dataclass(frozen=True)
class Sent:
    id: bytes
    dst_chain_id: int
    nonce: int
    sender: str
    receiver: str
    payload: bytes


def last_sent(endpoint: Contract) -> Sent:
    count = endpoint.functions.sentCount().call()
    assert count > 0, "nothing was sent"
    return sent_at(endpoint, count - 1)


def sent_at(endpoint: Contract, i: int) -> Sent:
    id_, dst, nonce, sender, receiver, payload = endpoint.functions.sentAt(i).call()
    return Sent(bytes(id_), dst, nonce, sender, receiver, bytes(payload))


def relay(chain: Chain, endpoint: Contract, msg: Sent, src_chain_id: int, sender: int = 0) -> Any:
    """Deliver ``msg`` (sent on ``src_chain_id``) through ``endpoint`` on ``chain``."""
    return send(
        chain,
        endpoint.functions.deliver(msg.id, src_chain_id, msg.sender, msg.receiver, msg.payload),
        sender=sender,
    )


def encode_lock_data(dst_chain_id: int, recipient: str) -> bytes:
    """``data`` for the one-transaction ERC-721 lock (safeTransferFrom to the vault)."""
    return abi_encode(["uint256", "address"], [dst_chain_id, recipient])


async def _write_vectors() -> None:
    from devnet.anvil import start_anvil
    from harness import make_chain

    async with start_anvil(chain_id=31337) as node:
        chain = make_chain("anvil", node.url)
        harness = chain.deploy("AssetsPayloadHarness")
        vectors = build_vectors(harness)
    VECTORS_PATH.write_text(json.dumps(vectors, indent=2) + "\n")
    print(
        f"wrote {len(vectors['valid'])} valid, {len(vectors['invalid'])} invalid to {VECTORS_PATH}"
    )


if __name__ == "__main__":
    asyncio.run(_write_vectors())
