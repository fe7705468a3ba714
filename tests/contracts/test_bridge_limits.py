"""Rate limits that protect value: a stranger's messages never consume an asset app's budget.

The real ``BridgeEndpoint`` carries the real ``AssetVault``'s messages (route to a chain that
only exists as a number: nothing is delivered here, only sending is exercised).
"""

from __future__ import annotations

from dataclasses import dataclass

from web3.contract import Contract

from harness import Chain

ADMIN, GUARDIAN, ALICE, STRANGER = 0, 1, 2, 3
FOREIGN = 777
ORACLE_STUB = "0x" + "0a" * 20
OUTBOUND = 1  # TransferLimits.Direction
SPAM = 5
LOCK = 10**6


@dataclass
class VaultOnEndpoint:
    chain: Chain
    endpoint: Contract
    vault: Contract
    token: Contract


def _deploy(chain: Chain) -> VaultOnEndpoint:
    admin = chain.accounts[ADMIN].address
    endpoint = chain.deploy("BridgeEndpoint", admin, chain.accounts[GUARDIAN].address)
    vault = chain.deploy("AssetVault", endpoint.address, admin)
    token = chain.deploy("SettlementToken", "Settlement CNY", "sCNY", 6, admin)
    remote = chain.w3.to_checksum_address("0x" + "77" * 20)
    oracle = chain.w3.to_checksum_address(ORACLE_STUB)
    chain.send(endpoint.functions.setRoute(FOREIGN, remote, oracle))
    chain.send(vault.functions.setRemote(FOREIGN, remote))
    chain.send(vault.functions.setRoute(token.address, FOREIGN, True))
    chain.send(token.functions.grantRole(chain.w3.keccak(text="MINTER_ROLE"), admin))
    chain.send(token.functions.mint(chain.accounts[ALICE].address, 10**12))
    chain.send(token.functions.approve(vault.address, 2**256 - 1), sender=ALICE)
    return VaultOnEndpoint(chain, endpoint, vault, token)


def protect(s: VaultOnEndpoint, per_window: int) -> None:
    """The operator's protection for ``per_window`` transfers of LOCK out of the vault: a
    value bucket of the vault (the endpoint counts no messages any more)."""
    config = (True, per_window * LOCK, 1, 0)
    s.chain.send(s.vault.functions.setLimit(s.token.address, FOREIGN, OUTBOUND, config))


def test_strangers_messages_cannot_exhaust_the_vaults_outbound_limit(chain: Chain) -> None:
    s = _deploy(chain)
    protect(s, per_window=1)
    for _ in range(SPAM):  # anyone may send: the stranger floods the route to FOREIGN
        send = s.endpoint.functions.send(FOREIGN, chain.accounts[STRANGER].address, b"spam")
        chain.send(send, sender=STRANGER)
    alice = chain.accounts[ALICE].address
    chain.send_with_margin(
        s.vault.functions.lockERC20(s.token.address, LOCK, FOREIGN, alice), ALICE
    )
    assert s.vault.functions.lockedFor(s.token.address, FOREIGN).call() == LOCK
