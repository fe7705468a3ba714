"""Gas of the financing assets and credit contracts: ``python -m bench.gas_assets [--json]``.

``measure(url)`` runs against an already running anvil and returns receipt ``gasUsed`` per
path, under docs/htlc.md §6 steady-state conditions (the vault/gateway already hold the asset,
recipients already hold a balance, approvals are separate unmeasured transactions); each
figure is the median of 5.

Messages go through ``AssetsTestEndpoint`` with recording off: its ``send`` is a nonce, the id
hash and the MessageSent event, i.e. the real endpoint's send without its route and
rate-limit checks (``bridge_send`` of bench.gas_bridge is the endpoint's own cost), and its
``deliver`` calls ``onMessage`` directly, so the ``*_delivery`` rows are the receiver's work
plus a ~3k gas call overhead; the real endpoint adds the proof check (``deliver_erc20``).

Settlement of bridged receivables: ``receivable_pay_bridged`` / ``receivable_settle_bridged``
are a payment of a receivable the vault holds (forwarded to the gateway), the
``assets_payment_delivery*`` rows its delivery to the wrapped holder (first payment; the one
that settles; one that waits for the mint), ``assets_mint_erc721_delivery_forwarding`` a mint
that forwards a waiting payment.

Financing desk (delivery versus payment, FinancingDesk.finance): ``desk_finance_receivable``
a home receivable bought with settlement tokens, ``desk_finance_wrapped`` a wrapped copy bought
with wrapped settlement tokens; each with the seller's EIP-712 offer checked and the financing
recorded on the receivable.

Private terms: ``assets_lock_erc721_private`` (lockERC721Private: the commitment instead of the
terms), ``assets_mint_erc721_private_delivery`` (a private copy minted),
``assets_burn_erc721_private``.

Value limits (TransferLimits) are on in both directions for every bridged asset, as ``xgate
devnet up`` deploys them, with buckets large enough that nothing is held: the figures are
rate-limited locks, burns and deliveries.
"""

from __future__ import annotations

import os
from typing import Any

from eth_abi.abi import encode
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bench._evm import median, standalone
from bench._table import progress
from gateway.cli.deployment import RECEIVABLE_LIMIT, SETTLEMENT_LIMIT
from gateway.domain.typed_data import (
    FinancingOffer,
    financing_offer_message,
    permit_message,
    receivable_acknowledgement_message,
    signature_vrs,
)
from harness import Chain

ROUNDS = 5
FOREIGN = 777  # the gateway's chain id: vault and gateway share the bench chain
DAY = 86400
# TransferLimits configs (enabled, capacity, rate/s, hold above): the devnet's own.
ERC20_LIMIT = SETTLEMENT_LIMIT.config()
NFT_LIMIT = RECEIVABLE_LIMIT.config()
ISSUER_ROLE = Web3.keccak(text="ISSUER_ROLE")
MINTER_ROLE = Web3.keccak(text="MINTER_ROLE")


def _permit(b: Chain, token: Contract, owner: int, spender: str, value: int) -> tuple[Any, ...]:
    deadline = b.now() + 3600
    msg = permit_message(
        token.functions.name().call(),
        "1",
        b.w3.eth.chain_id,
        token.address,
        b.address(owner),
        spender,
        value,
        token.functions.nonces(b.address(owner)).call(),
        deadline,
    )
    return deadline, *signature_vrs(bytes(b.accounts[owner].sign_message(msg).signature))


def _last_id(receipt: TxReceipt, endpoint: Contract) -> tuple[bytes, bytes]:
    found = endpoint.events.MessageSent().process_receipt(receipt, errors=DISCARD)
    (event,) = [e for e in found if e["address"] == endpoint.address]
    return bytes(event["args"]["id"]), bytes(event["args"]["payload"])


def _run(b: Chain) -> dict[str, int]:
    admin, alice, bob = 0, 1, 2
    home = b.w3.eth.chain_id
    endpoint = b.deploy("AssetsTestEndpoint", False)
    vault = b.deploy("AssetVault", endpoint.address, b.address(admin))
    gateway = b.deploy("WrappedAssetGateway", endpoint.address, b.address(admin))
    receivable = b.deploy("Receivable", "Receivables", "RCV", b.address(admin))
    token = b.deploy("SettlementToken", "Settlement CNY", "sCNY", 6, b.address(admin))
    wtoken = b.deploy("WrappedERC20", "w", "w", 6, gateway.address, home, token.address)
    wnft = b.deploy("WrappedReceivable", "w", "w", gateway.address, home, receivable.address)
    registry = b.deploy("CreditRegistry", endpoint.address, b.address(admin))
    mirror = b.deploy("CreditMirror", endpoint.address, b.address(admin))
    for call in (
        receivable.functions.grantRole(ISSUER_ROLE, b.address(admin)),
        receivable.functions.setBridgeVault(vault.address, True),
        receivable.functions.setSettlementToken(b"CNY", token.address, 10**4),
        token.functions.grantRole(MINTER_ROLE, b.address(admin)),
        registry.functions.grantRole(ISSUER_ROLE, b.address(admin)),
        vault.functions.setRemote(FOREIGN, gateway.address),
        vault.functions.setRoute(token.address, FOREIGN, True),
        vault.functions.setRoute(receivable.address, FOREIGN, True),
        gateway.functions.setRemote(home, vault.address),
        gateway.functions.registerWrapped(wtoken.address),
        gateway.functions.registerWrapped(wnft.address),
        registry.functions.setRemote(FOREIGN, mirror.address),
        mirror.functions.setRemote(home, registry.address),
        token.functions.mint(b.address(alice), 10**15),
        token.functions.mint(b.address(bob), 10**15),
        *(
            app.functions.setLimit(asset, remote, direction, limit)
            for app, remote, pairs in (
                (vault, FOREIGN, ((token, ERC20_LIMIT), (receivable, NFT_LIMIT))),
                (gateway, home, ((wtoken, ERC20_LIMIT), (wnft, NFT_LIMIT))),
            )
            for asset, limit in ((a.address, lim) for a, lim in pairs)
            for direction in (0, 1)
        ),
    ):
        b.gas_with_margin(call)
    b.gas_with_margin(token.functions.approve(vault.address, 2**256 - 1), sender=alice)
    deliver = endpoint.functions.deliver

    def to_gateway(receipt: TxReceipt) -> int:
        mid, payload = _last_id(receipt, endpoint)
        return b.gas_with_margin(deliver(mid, home, vault.address, gateway.address, payload))

    def to_vault(receipt: TxReceipt) -> int:
        mid, payload = _last_id(receipt, endpoint)
        return b.gas_with_margin(deliver(mid, FOREIGN, gateway.address, vault.address, payload))

    figures: dict[str, list[int]] = {}

    def note(name: str, value: int) -> None:
        figures.setdefault(name, []).append(value)

    # Steady state: something of each asset is already locked and bridged; bob holds wrapped.
    first = b.send_with_margin(
        vault.functions.lockERC20(token.address, 10**6, FOREIGN, b.address(bob)), alice
    )
    to_gateway(first)
    for _ in range(ROUNDS):
        r = b.send_with_margin(
            vault.functions.lockERC20(token.address, 10**6, FOREIGN, b.address(bob)), alice
        )
        note("assets_lock_erc20", int(r["gasUsed"]))
        note("assets_mint_erc20_delivery", to_gateway(r))
        r = b.send_with_margin(
            gateway.functions.burnERC20(wtoken.address, 10**6, b.address(alice)), bob
        )
        note("assets_burn_erc20", int(r["gasUsed"]))
        note("assets_release_erc20_delivery", to_vault(r))
        b.gas_with_margin(token.functions.mint(b.address(bob), 10**6))
        permit = _permit(b, token, bob, vault.address, 10**6)
        call = vault.functions.lockERC20WithPermit(
            token.address, 10**6, FOREIGN, b.address(bob), *permit
        )
        note("assets_lock_erc20_permit", b.gas_with_margin(call, sender=bob))

    safe = receivable.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")
    b.gas_with_margin(receivable.functions.setApprovalForAll(vault.address, True), sender=alice)
    for i in range(ROUNDS + 1):
        due = b.now() + 90 * DAY
        doc = os.urandom(32)
        f = (b.address(bob), b.address(alice), 10**8, b"CNY", due, doc)
        drafted = b.gas_with_margin(receivable.functions.draft(f))
        token_id = receivable.functions.tokenOfDocument(doc).call()
        acknowledged = b.gas_with_margin(receivable.functions.acknowledge(token_id), sender=bob)
        if i % 2:
            r = b.send_with_margin(
                vault.functions.lockERC721(receivable.address, token_id, FOREIGN, b.address(bob)),
                alice,
            )
            name = "assets_lock_erc721"
        else:
            data = encode(["uint256", "address"], [FOREIGN, b.address(bob)])
            r = b.send_with_margin(safe(b.address(alice), vault.address, token_id, data), alice)
            name = "assets_lock_erc721_safe_transfer"
        if i == 0:  # the steady-state receivable stays bridged
            to_gateway(r)
            continue
        note("assets_receivable_draft", drafted)
        note("assets_receivable_acknowledge", acknowledged)
        note(name, int(r["gasUsed"]))
        note("assets_mint_erc721_delivery", to_gateway(r))
        r = b.send_with_margin(
            gateway.functions.burnERC721(wnft.address, token_id, b.address(alice)), bob
        )
        note("assets_burn_erc721", int(r["gasUsed"]))
        note("assets_release_erc721_delivery", to_vault(r))

    def acknowledged(face: int, due: int) -> int:
        """An unmeasured receivable: bob owes alice ``face`` fen by ``due``, drafted by the admin
        (an issuer) and acknowledged by bob. Returns its token id."""
        doc = os.urandom(32)
        f = (b.address(bob), b.address(alice), face, b"CNY", due, doc)
        b.gas_with_margin(receivable.functions.draft(f))
        token_id = int(receivable.functions.tokenOfDocument(doc).call())
        b.gas_with_margin(receivable.functions.acknowledge(token_id), sender=bob)
        return token_id

    # Private terms (AssetVault.privateTerms): the same round trip over a route whose payload
    # carries only the commitment to the terms (lockERC721Private with the locker's salt).
    b.gas_with_margin(vault.functions.setPrivateTerms(FOREIGN, True))
    for _ in range(ROUNDS):
        token_id = acknowledged(10**8, b.now() + 90 * DAY)
        call = vault.functions.lockERC721Private(
            receivable.address, token_id, FOREIGN, b.address(bob), os.urandom(32)
        )
        r = b.send_with_margin(call, alice)
        note("assets_lock_erc721_private", int(r["gasUsed"]))
        note("assets_mint_erc721_private_delivery", to_gateway(r))
        r = b.send_with_margin(
            gateway.functions.burnERC721(wnft.address, token_id, b.address(alice)), bob
        )
        note("assets_burn_erc721_private", int(r["gasUsed"]))
        to_vault(r)
    b.gas_with_margin(vault.functions.setPrivateTerms(FOREIGN, False))

    # Receivable lifecycle: acknowledged by signature, paid in part, split in two, a part
    # settled by the keeper on its due date (the holder already holds settlement tokens).
    b.gas_with_margin(token.functions.approve(receivable.address, 2**256 - 1), sender=bob)
    for _ in range(ROUNDS):
        due = b.now() + 60
        doc = os.urandom(32)
        f = (b.address(bob), b.address(alice), 10**8, b"CNY", due, doc)
        b.gas_with_margin(receivable.functions.draft(f))
        token_id = receivable.functions.tokenOfDocument(doc).call()
        deadline = b.now() + 3600
        msg = receivable_acknowledgement_message(
            b.w3.eth.chain_id,
            receivable.address,
            token_id,
            doc,
            10**8,
            due,
            receivable.functions.nonces(b.address(bob)).call(),
            deadline,
        )
        signature = bytes(b.accounts[bob].sign_message(msg).signature)
        call = receivable.functions.acknowledgeBySig(token_id, deadline, signature)
        note("receivable_acknowledge_by_sig", b.gas_with_margin(call, sender=alice))
        call = receivable.functions.pay(token_id, 10**7)
        note("receivable_pay_partial", b.gas_with_margin(call, sender=bob))
        r = b.send_with_margin(receivable.functions.split(token_id, [4 * 10**7, 5 * 10**7]), alice)
        note("receivable_split_2", int(r["gasUsed"]))
        part = receivable.functions.totalTokenized().call() - 1
        b.advance_time(max(due - b.now(), 0))
        note("receivable_settle", b.gas_with_margin(receivable.functions.settle(part)))

    # Settlement of bridged receivables: bob (the debtor) pays a receivable bridged to FOREIGN
    # (its wrapped copy held by bob there: any holder costs the same); the payment reaches the
    # holder, then the keeper settles the rest. Then one paid while its mint is in flight: the
    # payment waits in the gateway and the mint delivery forwards it.
    for _ in range(ROUNDS):
        token_ids = []
        for _lock in range(2):
            due = b.now() + 60
            token_id = acknowledged(2 * 10**6, due)
            lock = vault.functions.lockERC721(receivable.address, token_id, FOREIGN, b.address(bob))
            token_ids.append((token_id, b.send_with_margin(lock, alice)))
        (token_id, lock), (late_id, late_lock) = token_ids
        to_gateway(lock)
        r = b.send_with_margin(receivable.functions.pay(token_id, 10**6), bob)
        note("receivable_pay_bridged", int(r["gasUsed"]))
        note("assets_payment_delivery", to_gateway(r))
        b.advance_time(max(due - b.now(), 0))
        r = b.send_with_margin(receivable.functions.settle(token_id), admin)
        note("receivable_settle_bridged", int(r["gasUsed"]))
        note("assets_payment_delivery_settling", to_gateway(r))
        r = b.send_with_margin(receivable.functions.pay(late_id, 10**6), bob)
        note("assets_payment_delivery_awaiting", to_gateway(r))
        note("assets_mint_erc721_delivery_forwarding", to_gateway(late_lock))

    # Financing desk, delivery versus payment: alice's signed offer, taken by the admin (the
    # financier) with settlement tokens at home; then the same for a wrapped copy on FOREIGN
    # with wrapped settlement tokens. Approvals are separate, unmeasured transactions.
    desk = b.deploy("FinancingDesk")
    b.gas_with_margin(token.functions.mint(b.address(admin), 10**15))
    to_gateway(
        b.send_with_margin(
            vault.functions.lockERC20(token.address, 10**7, FOREIGN, b.address(admin)), alice
        )
    )
    for who, calls in (
        (alice, (receivable.functions.setApprovalForAll(desk.address, True),
                 wnft.functions.setApprovalForAll(desk.address, True))),
        (admin, (token.functions.approve(desk.address, 2**256 - 1),
                 wtoken.functions.approve(desk.address, 2**256 - 1))),
    ):  # fmt: skip
        for call in calls:
            b.gas_with_margin(call, sender=who)

    def finance(asset: Contract, token_id: int, pay_token: Contract) -> int:
        offer = FinancingOffer(
            asset=Web3.to_bytes(hexstr=asset.address), token_id=token_id,
            seller=Web3.to_bytes(hexstr=b.address(alice)),
            pay_token=Web3.to_bytes(hexstr=pay_token.address), price=9 * 10**5, advance=90,
            discount_bps=1_000, nonce=int.from_bytes(os.urandom(8), "big"),
            deadline=b.now() + 3600,
        )  # fmt: skip
        signed = b.accounts[alice].sign_message(
            financing_offer_message(b.w3.eth.chain_id, desk.address, offer)
        )
        call = desk.functions.finance(offer.as_tuple(), bytes(signed.signature))
        return b.gas_with_margin(call, sender=admin)

    for _ in range(ROUNDS):
        token_id = acknowledged(100, b.now() + 90 * DAY)
        note("desk_finance_receivable", finance(receivable, token_id, token))
        token_id = acknowledged(100, b.now() + 90 * DAY)
        lock = vault.functions.lockERC721(receivable.address, token_id, FOREIGN, b.address(alice))
        to_gateway(b.send_with_margin(lock, alice))
        note("desk_finance_wrapped", finance(wnft, token_id, wtoken))

    def to_mirror(receipt: TxReceipt) -> int:
        mid, payload = _last_id(receipt, endpoint)
        return b.gas_with_margin(deliver(mid, home, registry.address, mirror.address, payload))

    for _ in range(ROUNDS):
        subject = Web3.to_checksum_address(os.urandom(20))
        call = registry.functions.attest(
            subject, 700, b"AA".ljust(32, b"\0"), b.now() + 365 * DAY, os.urandom(32)
        )
        note("credit_attest", b.gas_with_margin(call))
        r = b.send_with_margin(registry.functions.publish(subject, FOREIGN), admin)
        note("credit_publish", int(r["gasUsed"]))
        note("credit_mirror_attestation_delivery", to_mirror(r))
        note("credit_revoke", b.gas_with_margin(registry.functions.revoke(subject)))
        r = b.send_with_margin(registry.functions.publish(subject, FOREIGN), admin)
        note("credit_mirror_revocation_delivery", to_mirror(r))
    return {name: median(values) for name, values in figures.items()}


def measure(url: str) -> dict[str, int]:
    """Receipt gasUsed per asset/credit path on the anvil at ``url`` (dev accounts funded)."""
    progress("gas_assets: vault, wrapped assets, credit registry and mirror")
    return _run(Chain.connect("anvil", url, accounts=3))


def main(argv: list[str] | None = None) -> None:
    title = "financing assets and credit gas (receipt gasUsed, anvil, median of 5)"
    standalone(measure, __doc__, title, argv)


if __name__ == "__main__":
    main()
