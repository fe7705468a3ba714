"""LocalSigner: signs what it is given, and never shows its key."""

from __future__ import annotations

import pickle

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak

from adapters.errors import ConfigError
from adapters.signer import LocalSigner, SigningFailed, UnsignedTx
from adapters.types import Address, ChainId

KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")  # anvil #0
ADDRESS = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")


def _tx(**overrides: object) -> UnsignedTx:
    fields: dict[str, object] = {
        "chain_id": ChainId(31337),
        "nonce": 7,
        "to": Address(b"\x11" * 20),
        "value": 5,
        "data": b"\x01\x02",
        "gas": 50_000,
        "max_fee_per_gas": 3_000_000_000,
        "max_priority_fee_per_gas": 1_000_000_000,
    }
    fields.update(overrides)
    return UnsignedTx(**fields)  # type: ignore[arg-type]


def test_signer_address_is_derived_from_the_key() -> None:
    assert LocalSigner(KEY).address == ADDRESS


def test_key_never_appears_in_repr_str_or_errors() -> None:
    signer = LocalSigner(KEY)
    for text in (repr(signer), str(signer), f"{signer!r}"):
        assert KEY.hex() not in text.lower()
        assert "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" in text
    with pytest.raises(ConfigError) as info:
        LocalSigner(KEY[:31])
    assert KEY[:31].hex() not in str(info.value)


def test_signer_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(LocalSigner(KEY))


def test_key_outside_the_curve_order_is_rejected() -> None:
    with pytest.raises(ConfigError):
        LocalSigner(b"\xff" * 32)


async def test_eip1559_transaction_recovers_to_the_signer() -> None:
    signed = await LocalSigner(KEY).sign_transaction(_tx())
    assert signed.raw[0] == 2
    assert Account.recover_transaction(signed.raw) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    chain_id, nonce, tip, max_fee, gas, to, value, data = rlp.decode(signed.raw[1:])[:8]
    assert int.from_bytes(chain_id, "big") == 31337
    assert int.from_bytes(nonce, "big") == 7
    assert (int.from_bytes(tip, "big"), int.from_bytes(max_fee, "big")) == (10**9, 3 * 10**9)
    assert (int.from_bytes(gas, "big"), to, int.from_bytes(value, "big"), data) == (
        50_000,
        b"\x11" * 20,
        5,
        b"\x01\x02",
    )
    assert signed.tx_hash == keccak(signed.raw)


async def test_legacy_transaction_is_replay_protected() -> None:
    tx = _tx(max_fee_per_gas=None, max_priority_fee_per_gas=None, gas_price=1_000_000_000)
    signed = await LocalSigner(KEY).sign_transaction(tx)
    fields = rlp.decode(signed.raw)
    v = int.from_bytes(fields[6], "big")
    assert v in (31337 * 2 + 35, 31337 * 2 + 36)  # EIP-155


async def test_contract_creation_has_no_recipient() -> None:
    signed = await LocalSigner(KEY).sign_transaction(_tx(to=None))
    assert rlp.decode(signed.raw[1:])[5] == b""


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_priority_fee_per_gas": None},
        {"gas_price": 1},
        {"max_fee_per_gas": None, "max_priority_fee_per_gas": None},
        {"to": Address(b"\x11" * 19)},
    ],
)
def test_transaction_with_inconsistent_fees_or_recipient_is_refused(
    overrides: dict[str, object],
) -> None:
    with pytest.raises(SigningFailed):
        _tx(**overrides)
