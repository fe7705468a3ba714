"""The relay devnet of the fault tests, and the load they put on it.

``FaultNet``: the relay devnet of ``harness.relaynet`` (a consortium devnet node, instant seal,
and anvil with every xgate contract deployed as ``xgate devnet up`` does, sixteen dev accounts
funded on both chains, a public block every second); ``FaultNet.config`` writes the fault
tests' variants of the dev ``xgate.toml`` (another store, other signers, lower lease times,
another RPC URL, a confirmation depth ...).

``Transfers``: settlement tokens both ways, sent by several users in JSON-RPC batches of
pre-signed transactions (one batch is one consortium block, and lands in one or two public
blocks), with every message id taken from the source receipts, and the balance sums that a
double mint or a lost message would break.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexbytes import HexBytes

from adapters.receipts import Log
from adapters.types import Address, ChainId
from gateway.domain.messages import MESSAGE_SENT_TOPIC, MessageId, decode_message_sent
from gateway.domain.status import MessageStatus
from gateway.store import Store
from harness.chain import Chain
from harness.relaynet import RelayNet

ADMIN = 0
# Accounts the dev config's services sign with (1-3 attesters, 5 relayer, 6 keeper) and the
# extra relayer signers of the scale-out test: load is never sent from them.
RELAYER_ACCOUNTS = {"relayer": 5, "relayer-2": 10, "relayer-3": 11}
USERS = (7, 8, 12, 13)
DONE = {MessageStatus.DELIVERED, MessageStatus.ALREADY_DELIVERED}
# Dead leases expire fast; a short poll keeps the tests short.
FAULT_RELAYER = {"lease_ttl_s": 4.0, "poll_interval_s": 0.5, "confirm_timeout_s": 20.0}
FAULT_ATTESTER = {"poll_interval_s": 0.5}


class FaultNet(RelayNet):
    def config(
        self,
        name: str,
        *,
        store_url: str | None = None,
        relayer: Mapping[str, Any] | None = None,
        chains: Mapping[str, Mapping[str, Any]] | None = None,
        signers: Sequence[str] = (),
        drop: Sequence[str] = (),
        start_now: bool = True,
    ) -> Path:
        """A variant of the dev ``xgate.toml`` in the net's folder, as ``name``.

        ``store_url`` (default: SQLite ``NAME.db`` beside it); ``relayer`` and
        ``chains[NAME]`` update those sections; ``signers``: extra relayer signers of
        ``RELAYER_ACCOUNTS`` (key files written 0600); ``drop`` removes sections;
        ``start_now`` starts both chains' scans at their current height. Checked with
        ``load_config``."""
        knobs: dict[str, dict[str, Any]] = {
            chain: {"start_height": height}
            for chain, height in (self.heights() if start_now else {}).items()
        }
        for chain, values in (chains or {}).items():
            knobs[chain] = {**knobs.get(chain, {}), **values}
        return self.write_config(
            name,
            store_url=store_url or f"sqlite:///{Path(name).stem}.db",
            signers={signer: RELAYER_ACCOUNTS[signer] for signer in signers},
            relayer={**FAULT_RELAYER, **(relayer or {})},
            attester=FAULT_ATTESTER,
            chains=knobs,
            drop=tuple(drop),
        )


# --- load ----------------------------------------------------------------------------------------


def post_batch(url: str, raws: Sequence[bytes]) -> None:
    """Broadcast signed transactions in one JSON-RPC batch (the consortium devnet seals one
    block per batch); every one must be accepted."""
    body = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + r.hex()]}
        for i, r in enumerate(raws)
    ]
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        replies = json.loads(answer.read())
    errors = [r["error"] for r in replies if "error" in r]
    assert not errors, f"the node refused {len(errors)} transaction(s): {errors[:3]}"


@dataclass(frozen=True)
class Sent:
    """A message the load sent: its id, direction and amount."""

    id: MessageId
    side: str  # "c": consortium -> public (lock), "p": public -> consortium (burn)
    user: str
    amount: int


@dataclass
class Transfers:
    """Settlement tokens both ways between ``USERS``: locks on the consortium vault (minted
    wrapped on the public chain) and burns of the wrapped tokens (released on the
    consortium)."""

    net: FaultNet
    sent: list[Sent] = field(default_factory=list)
    _nonces: dict[tuple[str, str], int] = field(default_factory=dict)
    _gas: dict[str, int] = field(default_factory=dict)
    _delivered: set[MessageId] = field(default_factory=set)  # seen delivered: stays so

    def __post_init__(self) -> None:
        n = self.net
        self.token, self.vault = n.contract("c.settlement_token"), n.contract("c.vault")
        self.wrapped = n.contract("p.wrapped_settlement_token")
        self.gateway = n.contract("p.asset_gateway")
        self.c_endpoint, self.p_endpoint = n.contract("c.endpoint"), n.contract("p.endpoint")

    def user(self, index: int) -> str:
        return str(self.net.consortium.accounts[index].address)

    def fund(self, amount: int) -> None:
        """Mint ``amount`` of the settlement token to every user and approve the vault."""
        c = self.net.consortium
        for u in USERS:
            c.send(self.token.functions.mint(self.user(u), amount), sender=ADMIN)
            c.send(self.token.functions.approve(self.vault.address, 2**255), sender=u)

    # -- batches ------------------------------------------------------------------------------

    def send(self, locks: Sequence[tuple[int, int]], burns: Sequence[tuple[int, int]]) -> None:
        """One batch per chain: ``locks`` (user, amount) on the consortium, ``burns`` (user,
        amount) on the public chain; waits for every receipt and records the messages."""
        c, p = self.net.consortium, self.net.public
        pid, cid = p.chain_id, c.chain_id
        c_txs = [
            self._sign(
                c, u, self.vault.functions.lockERC20(self.token.address, a, pid, self.user(u))
            )
            for u, a in locks
        ]
        p_txs = [
            self._sign(
                p, u, self.gateway.functions.burnERC20(self.wrapped.address, a, self.user(u))
            )
            for u, a in burns
        ]
        for chain, txs in ((c, c_txs), (p, p_txs)):
            if txs:
                post_batch(chain.w3.provider.endpoint_uri, [raw for raw, _ in txs])  # type: ignore[attr-defined]
        for side, chain, txs, items, chain_id in (
            ("c", c, c_txs, locks, cid),
            ("p", p, p_txs, burns, pid),
        ):
            for (_, tx_hash), (u, amount) in zip(txs, items, strict=True):
                receipt = chain.wait(tx_hash, f"{side} transfer")
                [message_id] = self._message_ids(receipt, chain_id, side)
                self.sent.append(Sent(message_id, side, self.user(u), amount))

    def sign_burn(self, user: int, amount: int, *, nonce: int | None = None) -> tuple[bytes, bytes]:
        """A signed burn (raw, hash), not sent: for tests that mine by hand. ``nonce`` re-uses
        a nonce (a replacement of a reorged-out burn)."""
        call = self.gateway.functions.burnERC20(self.wrapped.address, amount, self.user(user))
        if nonce is not None:
            self._nonces[(self.net.public.name, self.net.public.accounts[user].address)] = nonce
        return self._sign(self.net.public, user, call)

    def sign_lock(self, user: int, amount: int) -> tuple[bytes, bytes]:
        """A signed lock (raw, hash), not sent."""
        c = self.net.consortium
        call = self.vault.functions.lockERC20(
            self.token.address, amount, self.net.public.chain_id, self.user(user)
        )
        return self._sign(c, user, call)

    def submit(self, side: str, signed: tuple[bytes, bytes], user: int, amount: int) -> Any:
        """Send one signed lock ("c") or burn ("p"), wait for it, record its message; the
        receipt."""
        chain = self.net.consortium if side == "c" else self.net.public
        raw, tx_hash = signed
        post_batch(chain.w3.provider.endpoint_uri, [raw])  # type: ignore[attr-defined]
        receipt = chain.wait(tx_hash, f"{side} transfer")
        self.record(side, receipt, user, amount)
        return receipt

    def record(self, side: str, receipt: Any, user: int, amount: int) -> Sent:
        """Note the message of a mined source transaction sent outside ``send``."""
        chain = self.net.consortium if side == "c" else self.net.public
        [message_id] = self._message_ids(receipt, chain.chain_id, side)
        sent = Sent(message_id, side, self.user(user), amount)
        self.sent.append(sent)
        return sent

    def _sign(self, chain: Chain, sender: int, call: Any) -> tuple[bytes, bytes]:
        account = chain.accounts[sender]
        key = (chain.name, account.address)
        if key not in self._nonces:
            self._nonces[key] = chain.w3.eth.get_transaction_count(account.address, "pending")
        gas_key = f"{chain.name}.{call.fn_name}"
        if gas_key not in self._gas:
            self._gas[gas_key] = call.estimate_gas({"from": account.address}) * 3 // 2
        base = int(chain.w3.eth.get_block("latest")["baseFeePerGas"])
        tx = call.build_transaction(
            {
                "from": account.address,
                "nonce": self._nonces[key],
                "gas": self._gas[gas_key],
                "chainId": chain.chain_id,
                "maxPriorityFeePerGas": 1,
                "maxFeePerGas": 3 * base + 10**9,
            }
        )
        self._nonces[key] += 1
        signed = account.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    def _message_ids(self, receipt: Any, chain_id: int, side: str) -> list[MessageId]:
        endpoint = (self.c_endpoint if side == "c" else self.p_endpoint).address
        out = []
        for entry in receipt["logs"]:
            topics = tuple(bytes(t) for t in entry["topics"])
            if entry["address"] != endpoint or not topics or topics[0] != MESSAGE_SENT_TOPIC:
                continue
            log = Log(Address(bytes(HexBytes(entry["address"]))), topics, bytes(entry["data"]))
            out.append(decode_message_sent(log, ChainId(chain_id)).id)
        return out

    # -- checks -------------------------------------------------------------------------------

    def undelivered(self) -> list[Sent]:
        """The messages the destination endpoint has not delivered (yet)."""
        for s in self.sent:
            if s.id not in self._delivered and (
                (self.p_endpoint if s.side == "c" else self.c_endpoint)
                .functions.delivered(s.id)
                .call()
            ):
                self._delivered.add(s.id)
        return [s for s in self.sent if s.id not in self._delivered]

    def balances(self) -> dict[str, tuple[int, int]]:
        """Each user's (settlement token on the consortium, wrapped on the public chain)."""
        return {
            self.user(u): (
                self.token.functions.balanceOf(self.user(u)).call(),
                self.wrapped.functions.balanceOf(self.user(u)).call(),
            )
            for u in USERS
        }

    def locked(self) -> int:
        """What the vault holds for the public chain (the wrapped supply's backing)."""
        return int(
            self.vault.functions.lockedFor(self.token.address, self.net.public.chain_id).call()
        )

    def supply(self) -> int:
        return int(self.wrapped.functions.totalSupply().call())


def store_statuses(url: str, ids: Sequence[MessageId]) -> dict[MessageId, MessageStatus | None]:
    """The store's status of every message (None: not in the store)."""

    async def read() -> dict[MessageId, MessageStatus | None]:
        store = await Store.open(url, migrate=False)
        try:
            out: dict[MessageId, MessageStatus | None] = {}
            for mid in ids:
                record = await store.message(mid)
                out[mid] = None if record is None else record.status
            return out
        finally:
            await store.close()

    return asyncio.run(read())
