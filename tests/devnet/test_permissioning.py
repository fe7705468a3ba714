"""Account permissioning with Besu's perm_* API: only allowlisted senders may transact."""

from __future__ import annotations

import pytest
from eth_account import Account

from devnet.keys import DevKey
from harness import NodeRpc, RpcError

OUTSIDER = DevKey(
    bytes.fromhex(Account.from_key(b"\x42" * 32).address[2:]), b"\x42" * 32
)  # dev-only throwaway key


async def _fund(rpc: NodeRpc, address: bytes) -> None:
    await rpc.send(rpc.node.accounts[1], to="0x" + address.hex(), value=10**18)


async def test_dev_accounts_and_validators_are_allowlisted_at_genesis(rpc: NodeRpc) -> None:
    allowlist = await rpc.call("perm_getAccountsAllowlist")
    for key in rpc.node.accounts:
        assert key.hex_address in allowlist
    for validator in rpc.node.validators:
        assert "0x" + validator.hex() in allowlist


async def test_a_sender_outside_the_allowlist_is_rejected_with_besus_error(rpc: NodeRpc) -> None:
    await _fund(rpc, OUTSIDER.address)
    raw = await rpc.sign(OUTSIDER, to=rpc.node.accounts[0].hex_address, value=1)
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
    assert exc.value.code == -32007
    assert exc.value.message == "Sender account not authorized to send transactions"


async def test_an_added_account_can_transact_and_a_removed_one_cannot(rpc: NodeRpc) -> None:
    await _fund(rpc, OUTSIDER.address)
    assert await rpc.call("perm_addAccountsToAllowlist", [OUTSIDER.hex_address]) == "Success"
    assert OUTSIDER.hex_address in await rpc.call("perm_getAccountsAllowlist")
    receipt = await rpc.send(OUTSIDER, to=rpc.node.accounts[0].hex_address, value=1)
    assert receipt["status"] == "0x1"
    assert await rpc.call("perm_removeAccountsFromAllowlist", [OUTSIDER.hex_address]) == "Success"
    raw = await rpc.sign(OUTSIDER, to=rpc.node.accounts[0].hex_address, value=1)
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
    assert exc.value.code == -32007


@pytest.mark.parametrize(
    ("method", "accounts", "message"),
    [
        ("perm_addAccountsToAllowlist", [], "Request contains an empty list of accounts"),
        ("perm_addAccountsToAllowlist", ["0x1234"], "Request contains an invalid account"),
        (
            "perm_addAccountsToAllowlist",
            ["0x" + "ab" * 20, "0x" + "ab" * 20],
            "Request contains duplicate accounts",
        ),
        (
            "perm_addAccountsToAllowlist",
            ["0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"],
            "Cannot add an existing account to allowlist",
        ),
        (
            "perm_removeAccountsFromAllowlist",
            ["0x" + "cd" * 20],
            "Cannot remove an absent account from allowlist",
        ),
    ],
)
async def test_bad_allowlist_requests_get_besus_errors_and_change_nothing(
    rpc: NodeRpc, method: str, accounts: list[str], message: str
) -> None:
    before = await rpc.call("perm_getAccountsAllowlist")
    with pytest.raises(RpcError) as exc:
        await rpc.call(method, accounts)
    assert (exc.value.code, exc.value.message) == (-32000, message)
    assert await rpc.call("perm_getAccountsAllowlist") == before
