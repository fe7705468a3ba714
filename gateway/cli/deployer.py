"""Send a deployment plan (``gateway.cli.deployment``) resumably: the one path of ``xgate
deploy`` and ``xgate devnet up``.

Every step of every chain's plan is written to a ``DeployJournal`` *before* its transaction is
broadcast (nonce, hash, raw signed bytes) and again when it is mined (block, gas, contract
address). A run that was interrupted, even killed right after a broadcast, continues from the
journal:

- a step recorded as mined is checked, not re-sent: a contract must have code at its recorded
  address, a call's receipt must still be there with status 1;
- a step recorded as sent but not mined is awaited under the nonce it was signed with: if the
  node no longer knows the transaction (a restarted node, an evicted pool entry) the very same
  signed bytes are broadcast again, or, if the node refuses them, the step is signed again at
  that nonce with raised fees (as a transaction unmined for ``STUCK_AFTER_S`` is replaced).
  Every attempt is journaled before it is broadcast and one nonce can only be used once, so a
  step can never land twice; if the nonce was taken by a transaction that is not in the
  journal (someone else sends from the deployer's key) the run stops instead of guessing;
- the steps after them get the deployer's actual next nonce on the chain (read after the steps
  in flight are mined), and the addresses of the contracts they create are computed from it.

Nonces are chosen here, not by an adapter's signer writer: a contract's address follows from
the nonce of its creation, and calls of the same plan (on both chains) name it before it is
mined, so each step's nonce must be known before anything is sent. At most ``max_in_flight``
transactions of a chain are unmined at once (a public node's pool takes a limited number per
account).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from adapters.base import TxReceipt, TxRequest
from adapters.errors import ConfigError, FatalError, TransactionFailed
from adapters.evm import EvmAdapter
from adapters.qbft import QbftAdapter
from adapters.rawtx import decode_raw_transaction
from adapters.rpc.submit import Fees, bump_fees
from adapters.signer import SignedTx, Signer, UnsignedTx
from adapters.types import Address, ChainId, Finality, Hash32, TxHash
from contracts import load_artifact
from gateway.cli.deployment import (
    CALL_GAS,
    DEPLOY_GAS,
    DEVNET_HOLD_DELAY_S,
    DEVNET_TIMELOCK_DELAY_S,
    Deploy,
    Deployed,
    Ref,
    Step,
    create_address,
    hub_plan,
    public_prefix,
)

log = logging.getLogger("xgate.deploy")

JOURNAL_VERSION = 1
RECEIPT_TIMEOUT_S = 600.0
# A step's transaction the node has had this long unmined is replaced with fees raised by
# FEE_BUMP_PCT (the same nonce; geth and Besu want +10 % for a replacement).
STUCK_AFTER_S = 120.0
FEE_BUMP_PCT = 15
DEFAULT_MAX_IN_FLIGHT = 16

# (chain name, steps done, steps in all)
Progress = Callable[[str, int, int], None]


class DeploymentConflict(FatalError):
    """The chain does not match the journal: a nonce of the deployer went to a transaction the
    journal does not know, a recorded contract has no code, a step reverted."""


def describe(step: Step) -> str:
    if isinstance(step, Deploy):
        return f"deploy {step.artifact} as {step.key}"
    return f"{step.target}.{step.function}"


# --- the journal -------------------------------------------------------------------------------


class DeployJournal:
    """The record of one deployment: its inputs and, per chain, each step's transaction.

    Backed by a JSON file (rewritten atomically and fsynced at every record: a record is on
    disk before its transaction is broadcast) or, with ``path`` None, by memory only (the
    devnet, whose chains do not outlive the process)."""

    def __init__(self, path: Path | None, data: dict[str, Any] | None = None) -> None:
        self.path = path
        self.data: dict[str, Any] = data or {"version": JOURNAL_VERSION, "chains": {}}

    @classmethod
    def open(cls, path: Path) -> DeployJournal:
        """The journal at ``path``, or an empty one that will be written there."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"deployment journal {path} is unreadable: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != JOURNAL_VERSION:
            raise ConfigError(
                f"deployment journal {path} is not a version-{JOURNAL_VERSION} xgate journal"
            )
        return cls(path, data)

    @property
    def started(self) -> bool:
        return "inputs" in self.data

    @property
    def finished(self) -> bool:
        return bool(self.data.get("finished"))

    def steps(self, chain: str) -> dict[str, Any]:
        steps: dict[str, Any] = self.data["chains"].setdefault(chain, {}).setdefault("steps", {})
        return steps

    def step(self, chain: str, index: int) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.steps(chain).get(str(index))
        return found

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w") as out:
            json.dump(self.data, out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --- one chain ---------------------------------------------------------------------------------


@dataclass
class ChainRun:
    """One chain of a deployment: its plan, the adapter that reaches it (started; no signer
    needed) and the deployer's signer."""

    name: str
    adapter: EvmAdapter
    signer: Signer
    steps: list[Step]

    @property
    def deployer(self) -> Address:
        return self.signer.address

    @property
    def chain_id(self) -> ChainId:
        return self.adapter.ref.chain_id


class Deployment:
    """Runs the plans of several chains against one journal (``run``)."""

    def __init__(
        self,
        chains: Sequence[ChainRun],
        journal: DeployJournal,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        progress: Progress | None = None,
        receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
        stuck_after_s: float = STUCK_AFTER_S,
    ) -> None:
        if max_in_flight < 1:
            raise ConfigError("max_in_flight must be at least 1")
        self.chains = list(chains)
        self.journal = journal
        self.max_in_flight = max_in_flight
        self.progress = progress or (lambda _chain, _done, _total: None)
        self.receipt_timeout_s = receipt_timeout_s
        self.stuck_after_s = stuck_after_s
        self.sent = 0  # transactions broadcast by this run (re-broadcasts included)
        self.addresses: dict[str, Address] = {}
        self.artifacts: dict[str, str] = {}
        self.metas: dict[str, tuple[tuple[str, Any], ...]] = {}
        self._lock = asyncio.Lock()

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> dict[str, Deployed]:
        """Check and settle what the journal holds, then send the rest; the contracts by
        key. ``DeploymentConflict`` when the chains contradict the journal."""
        for chain in self.chains:
            entry = self.journal.data["chains"].setdefault(chain.name, {})
            recorded = entry.get("deployer")
            if recorded is not None and recorded != to_checksum_address(chain.deployer):
                raise DeploymentConflict(
                    f"the journal's {chain.name} deployer is {recorded}, the signer's "
                    f"{to_checksum_address(chain.deployer)}"
                )
            entry["deployer"] = to_checksum_address(chain.deployer)
            entry["chain_id"] = int(chain.chain_id)
            entry["total"] = len(chain.steps)
        self.journal.save()
        await asyncio.gather(*(self._settle(chain) for chain in self.chains))
        starts = await asyncio.gather(*(self._assign(chain) for chain in self.chains))
        for chain, start in zip(self.chains, starts, strict=True):
            self._address_unsent(chain, start)
        self._check_moved()
        await asyncio.gather(
            *(self._send(chain, start) for chain, start in zip(self.chains, starts, strict=True))
        )
        self.journal.data["finished"] = True
        self.journal.data["contracts"] = {
            key: to_checksum_address(address) for key, address in sorted(self.addresses.items())
        }
        self.journal.save()
        return self.contracts()

    def contracts(self) -> dict[str, Deployed]:
        """The plan's contracts by key, at the addresses noted so far (``run``, ``preview``)."""
        return {
            key: Deployed(
                key,
                self.artifacts[key],
                self.addresses[key],
                tuple((k, self.resolve(v)) for k, v in meta),
            )
            for key, meta in self.metas.items()
        }

    def _check_moved(self) -> None:
        """Record the addresses this run sends with. A contract not deployed yet whose address
        moved since the last run (its deployer's nonce moved: someone else sent from the key)
        is fine unless a step already sent names it: then that step wired a wrong address."""
        before: dict[str, str] = self.journal.data.get("addresses", {})
        now = {key: to_checksum_address(a) for key, a in sorted(self.addresses.items())}
        moved = {key for key, address in before.items() if now.get(key, address) != address}
        named = {
            ref
            for chain in self.chains
            for index in self.journal.steps(chain.name)
            for ref in _refs(chain.steps[int(index)].args)
        }
        if moved & named:
            raise DeploymentConflict(
                f"{', '.join(sorted(moved & named))} would now be deployed at another address "
                "than the one steps already sent name: the deployer's nonce moved since the "
                "last run (another process sent from its key); this deployment cannot be "
                "completed consistently, start a new one (move the journal away)"
            )
        self.journal.data["addresses"] = now
        self.journal.save()

    def _done(self, chain: ChainRun) -> int:
        return sum(1 for s in self.journal.steps(chain.name).values() if s["status"] == "mined")

    async def preview(self) -> None:
        """Fill ``addresses`` as a run would, sending and checking nothing (a dry run): the
        journal's contracts, then the unsent ones from each deployer's pending nonce."""
        for chain in self.chains:
            self._load_recorded(chain)
            start = await chain.adapter.pending_nonce(chain.deployer)
            self._address_unsent(chain, start)

    def _load_recorded(self, chain: ChainRun) -> list[int]:
        """The journal's step indexes of ``chain``, checked against the plan, their
        contracts' addresses noted."""
        recorded = self.journal.steps(chain.name)
        indexes = sorted(int(i) for i in recorded)
        if indexes != list(range(len(indexes))) or len(indexes) > len(chain.steps):
            raise DeploymentConflict(f"the journal's {chain.name} steps are not this plan's")
        for index in indexes:
            step, record = chain.steps[index], recorded[str(index)]
            if record["step"] != describe(step):
                raise DeploymentConflict(
                    f"{chain.name} step {index} is {record['step']!r} in the journal, "
                    f"{describe(step)!r} in the plan"
                )
            if isinstance(step, Deploy):
                self.addresses[step.key] = Address(bytes.fromhex(record["contract"][2:]))
                self.artifacts[step.key] = step.artifact
                self.metas[step.key] = step.meta
        return indexes

    async def _settle(self, chain: ChainRun) -> None:
        """Check the steps the journal holds for ``chain`` and await the ones in flight."""
        indexes = self._load_recorded(chain)
        recorded = self.journal.steps(chain.name)
        in_flight = [i for i in indexes if recorded[str(i)]["status"] != "mined"]
        for index in indexes:
            if recorded[str(index)]["status"] == "mined":
                await self._verify_mined(chain, index)
        self.progress(chain.name, self._done(chain), len(chain.steps))
        for index in in_flight:
            await self._revive(chain, index)
        for index in in_flight:
            await self._await_step(chain, index)

    async def _verify_mined(self, chain: ChainRun, index: int) -> None:
        step, record = chain.steps[index], self.journal.steps(chain.name)[str(index)]
        if isinstance(step, Deploy):
            address = Address(bytes.fromhex(record["contract"][2:]))
            if not await chain.adapter.code(address):
                raise DeploymentConflict(
                    f"{chain.name}: the journal says {describe(step)} is at "
                    f"{record['contract']}, but there is no code there (another chain, or "
                    "the chain was reset?)"
                )
            return
        receipt = await chain.adapter.receipt(TxHash(bytes.fromhex(record["mined_tx"][2:])))
        if receipt is None or receipt.status != 1:
            raise DeploymentConflict(
                f"{chain.name}: the journal says {describe(step)} was mined in "
                f"{record['mined_tx']}, but the chain has no successful receipt of it"
            )

    async def _revive(self, chain: ChainRun, index: int) -> None:
        """A step sent by an earlier run and not known mined: if the node has lost it, and
        its nonce is still free, broadcast the same signed bytes again; if the node refuses
        them (their fees no longer enough ...), sign the step again at the same nonce with
        raised fees. Either way one nonce: at most one of its attempts can be mined."""
        record = self.journal.steps(chain.name)[str(index)]
        for attempt in reversed(record["attempts"]):
            tx_hash = TxHash(bytes.fromhex(attempt["tx_hash"][2:]))
            if await chain.adapter.transaction_known(tx_hash):
                log.info(
                    "%s step %d: %s is known to the node", chain.name, index, attempt["tx_hash"]
                )
                return
        if await chain.adapter.mined_nonce(chain.deployer) > record["nonce"]:
            return  # mined meanwhile, or taken by someone else: _await_step tells which
        raw = bytes.fromhex(record["attempts"][-1]["raw"][2:])
        log.info("%s step %d: re-broadcasting nonce %d", chain.name, index, record["nonce"])
        try:
            await chain.adapter.send_raw_transaction(raw)
        except TransactionFailed as exc:
            if await chain.adapter.mined_nonce(chain.deployer) > record["nonce"]:
                return
            if "insufficient funds" in str(exc.context.get("rpc_message", "")).lower():
                raise TransactionFailed(
                    f"{chain.name}: the deployer {to_checksum_address(chain.deployer)} cannot "
                    f"pay for {describe(chain.steps[index])}: fund it and run again",
                    nonce=record["nonce"],
                ) from exc
            log.warning(
                "%s step %d: the node refused the re-broadcast (%s); signing it again at "
                "nonce %d with the current fees",
                chain.name,
                index,
                exc,
                record["nonce"],
            )
            fees = await self._raised_fees(chain, record)
            signed = await self._sign_again(chain, record, fees)
            await chain.adapter.send_raw_transaction(signed.raw)
        self.sent += 1

    @staticmethod
    async def _raised_fees(chain: ChainRun, record: Mapping[str, Any]) -> Fees:
        """The last attempt's fees raised by ``FEE_BUMP_PCT`` (what a node takes as a
        replacement), and never below what the chain asks now."""
        fees = bump_fees(_fees(record["attempts"][-1]), FEE_BUMP_PCT)
        assert fees is not None  # no cap
        return fees.at_least((await chain.adapter.fee_market()).fees)

    async def _sign_again(self, chain: ChainRun, record: dict[str, Any], fees: Fees) -> SignedTx:
        """Another attempt of a recorded step: the same nonce, recipient, data and gas as its
        first (decoded from the journal's raw bytes, not rebuilt), with ``fees``; journaled
        before it is returned for broadcasting."""
        first = decode_raw_transaction(bytes.fromhex(record["attempts"][0]["raw"][2:]))
        signed = await chain.signer.sign_transaction(
            UnsignedTx(
                chain_id=chain.chain_id,
                nonce=record["nonce"],
                to=first.to,
                value=first.value,
                data=first.data,
                gas=record["attempts"][0]["gas"],
                **fees.unsigned(),
            )
        )
        record["attempts"].append(_attempt(signed, fees, record["attempts"][0]["gas"]))
        async with self._lock:
            self.journal.save()
        return signed

    async def _bump(self, chain: ChainRun, index: int) -> None:
        """Replace a step's transaction the node has had for ``STUCK_AFTER_S`` unmined: the
        same nonce with every fee raised by ``FEE_BUMP_PCT`` (and at least today's)."""
        record = self.journal.steps(chain.name)[str(index)]
        signed = await self._sign_again(chain, record, await self._raised_fees(chain, record))
        log.info(
            "%s step %d not mined after %.0f s: replaced at nonce %d by 0x%s",
            chain.name,
            index,
            self.stuck_after_s,
            record["nonce"],
            signed.tx_hash.hex(),
        )
        try:
            await chain.adapter.send_raw_transaction(signed.raw)
        except TransactionFailed as exc:
            log.warning("%s step %d: the node refused the replacement: %s", chain.name, index, exc)
        self.sent += 1

    async def _await_step(self, chain: ChainRun, index: int) -> None:
        """Wait until one of the step's attempts is mined (or its nonce is taken by another
        transaction: ``DeploymentConflict``), check it and record it."""
        step, record = chain.steps[index], self.journal.steps(chain.name)[str(index)]
        deadline = time.monotonic() + self.receipt_timeout_s
        last_attempt = time.monotonic()
        while True:
            hashes = [TxHash(bytes.fromhex(a["tx_hash"][2:])) for a in record["attempts"]]
            receipt = await self._receipt(chain, hashes)
            if receipt is not None:
                break
            # The nonce is used but none of ours is mined: look once more (it may have been
            # mined between the two reads) before calling it someone else's.
            used = await chain.adapter.mined_nonce(chain.deployer) > record["nonce"]
            if used and (receipt := await self._receipt(chain, hashes)) is not None:
                break
            if used:
                raise DeploymentConflict(
                    f"{chain.name}: nonce {record['nonce']} of the deployer "
                    f"{to_checksum_address(chain.deployer)} went to a transaction that is not "
                    f"this deployment's ({describe(step)} was signed with it): is another "
                    "process sending from the deployer's key?"
                )
            if time.monotonic() > deadline:
                raise TransactionFailed(
                    f"{chain.name}: {describe(step)} not mined within "
                    f"{self.receipt_timeout_s:.0f} s; run the deployment again to keep waiting",
                    tx_hash="0x" + hashes[-1].hex(),
                )
            if time.monotonic() - last_attempt > self.stuck_after_s:
                await self._bump(chain, index)
                last_attempt = time.monotonic()
            await asyncio.sleep(chain.adapter.config.poll_interval_s)
        if receipt.status != 1:
            raise DeploymentConflict(
                f"{chain.name}: {describe(step)} reverted (tx 0x{receipt.tx_hash.hex()}); "
                "the deployment cannot continue past it"
            )
        if isinstance(step, Deploy):
            expected = Address(bytes.fromhex(record["contract"][2:]))
            if receipt.contract_address != expected:
                raise DeploymentConflict(
                    f"{chain.name}: {describe(step)} landed at an unexpected address"
                )
        record.update(
            status="mined",
            mined_tx="0x" + receipt.tx_hash.hex(),
            block=int(receipt.block_number),
            gas_used=receipt.gas_used,
        )
        async with self._lock:
            self.journal.save()
        self.progress(chain.name, self._done(chain), len(chain.steps))

    @staticmethod
    async def _receipt(chain: ChainRun, hashes: Sequence[TxHash]) -> TxReceipt | None:
        for tx_hash in hashes:
            receipt = await chain.adapter.receipt(tx_hash)
            if receipt is not None:
                return receipt
        return None

    async def _assign(self, chain: ChainRun) -> int:
        """The deployer's next nonce, once nothing of it is in flight: the first unsent step's."""
        pending = await chain.adapter.pending_nonce(chain.deployer)
        mined = await chain.adapter.mined_nonce(chain.deployer)
        if pending != mined:
            raise DeploymentConflict(
                f"{chain.name}: the deployer {to_checksum_address(chain.deployer)} has "
                f"{pending - mined} pending transactions that are not this deployment's; "
                "wait until they are mined"
            )
        return mined

    def _address_unsent(self, chain: ChainRun, start: int) -> None:
        first = len(self.journal.steps(chain.name))
        for offset, step in enumerate(chain.steps[first:]):
            if isinstance(step, Deploy):
                self.addresses[step.key] = create_address(chain.deployer, start + offset)
                self.artifacts[step.key] = step.artifact
                self.metas[step.key] = step.meta

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return to_checksum_address(self.addresses[value.key])
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        if isinstance(value, bytes) and len(value) == 20:
            return to_checksum_address(value)
        return value

    def request(self, step: Step) -> TxRequest:
        """``step`` as a transaction (every ``Ref`` resolved)."""
        args = tuple(self.resolve(a) for a in step.args)
        if isinstance(step, Deploy):
            data = load_artifact(step.artifact).deploy_data(*args)
            return TxRequest(to=None, data=data, gas=DEPLOY_GAS)
        target = load_artifact(self.artifacts[step.target])
        data = target.call_data(step.function, *args)
        return TxRequest(to=self.addresses[step.target], data=data, gas=CALL_GAS)

    async def _send(self, chain: ChainRun, start: int) -> None:
        """Send ``chain``'s unsent steps in order on consecutive nonces from ``start``, at most
        ``max_in_flight`` unmined at once; each is journaled before it is broadcast."""
        first = len(self.journal.steps(chain.name))
        window: list[asyncio.Task[None]] = []
        try:
            for offset, step in enumerate(chain.steps[first:]):
                if len(window) >= self.max_in_flight:
                    await asyncio.wait(window, return_when=asyncio.FIRST_COMPLETED)
                for task in [t for t in window if t.done()]:
                    task.result()  # a failed step stops the chain here
                    window.remove(task)
                window.append(
                    asyncio.create_task(
                        await self._send_step(chain, first + offset, start + offset, step)
                    )
                )
            await asyncio.gather(*window)
        finally:
            for task in window:
                task.cancel()

    async def _send_step(
        self, chain: ChainRun, index: int, nonce: int, step: Step
    ) -> Coroutine[Any, Any, None]:
        """Sign, journal and broadcast one step; the coroutine that awaits it."""
        call = self.request(step)
        assert call.gas is not None
        fees = (await chain.adapter.fee_market()).fees
        signed = await chain.signer.sign_transaction(
            UnsignedTx(
                chain_id=chain.chain_id,
                nonce=nonce,
                to=call.to,
                value=0,
                data=call.data,
                gas=call.gas,
                **fees.unsigned(),
            )
        )
        record: dict[str, Any] = {
            "step": describe(step),
            "nonce": nonce,
            "status": "sent",
            "attempts": [_attempt(signed, fees, call.gas)],
        }
        if isinstance(step, Deploy):
            record["contract"] = to_checksum_address(self.addresses[step.key])
        self.journal.steps(chain.name)[str(index)] = record
        async with self._lock:
            self.journal.save()  # on disk before the transaction leaves
        await chain.adapter.send_raw_transaction(signed.raw)
        self.sent += 1
        return self._await_step(chain, index)


def _attempt(signed: SignedTx, fees: Fees, gas: int) -> dict[str, Any]:
    return {
        "tx_hash": "0x" + signed.tx_hash.hex(),
        "raw": "0x" + signed.raw.hex(),
        "gas": gas,
        "fees": {k: v for k, v in fees.unsigned().items() if v is not None},
        "signed_at": round(time.time(), 3),
    }


def _fees(attempt: Mapping[str, Any]) -> Fees:
    return Fees(**attempt["fees"])


def _refs(value: Any) -> set[str]:
    """The contract keys ``value`` names (``Ref``), nested lists included."""
    if isinstance(value, Ref):
        return {value.key}
    if isinstance(value, list | tuple):
        return {key for item in value for key in _refs(item)}
    return set()


# --- a consortium hub and its public chains ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Roles:
    """Who holds what once the deployment is done (``hub_plan``): the timelocks' proposer
    (``governor``), the pauser (``guardian``), the header store's attesters and threshold, the
    receivables' arbiter (None: the hub's deployer) and the delays. ``governor`` and
    ``guardian`` None: the devnet's dev accounts."""

    attesters: tuple[Address, ...]
    attester_threshold: int
    governor: Address | None = None
    guardian: Address | None = None
    arbiter: Address | None = None
    timelock_delay_s: int = DEVNET_TIMELOCK_DELAY_S
    hold_delay_s: int = DEVNET_HOLD_DELAY_S

    def to_json(self) -> dict[str, Any]:
        def addr(a: Address | None) -> str | None:
            return None if a is None else to_checksum_address(a)

        return {
            "attesters": [addr(a) for a in self.attesters],
            "attester_threshold": self.attester_threshold,
            "governor": addr(self.governor),
            "guardian": addr(self.guardian),
            "arbiter": addr(self.arbiter),
            "timelock_delay_s": self.timelock_delay_s,
            "hold_delay_s": self.hold_delay_s,
        }


@dataclass(frozen=True, slots=True)
class ChainEnd:
    """A chain to deploy on: its name (``[chains]`` key or devnet side), a started adapter (a
    ``QbftAdapter`` for the hub) and the deployer's signer."""

    name: str
    adapter: EvmAdapter
    signer: Signer


@dataclass(frozen=True, slots=True)
class Anchor:
    """The consortium header every public light client is deployed with."""

    height: int
    hash: Hash32
    timestamp: int
    validators: tuple[Address, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "hash": "0x" + self.hash.hex(),
            "timestamp": self.timestamp,
            "validators": [to_checksum_address(v) for v in self.validators],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Anchor:
        return cls(
            int(data["height"]),
            Hash32(bytes.fromhex(data["hash"][2:])),
            int(data["timestamp"]),
            tuple(Address(bytes.fromhex(v[2:])) for v in data["validators"]),
        )


@dataclass(frozen=True, slots=True)
class HubResult:
    contracts: dict[str, Deployed]
    anchor: Anchor
    sent: int  # transactions this run broadcast (0: everything was already done)
    chains: dict[str, str]  # chain name -> deployment-key prefix (c, p, p2 ...)


async def current_anchor(hub: EvmAdapter) -> Anchor:
    """The hub's latest header (verified by the QBFT adapter) and the validators it lists."""
    if not isinstance(hub, QbftAdapter):
        raise ConfigError("the hub must be reached through a QBFT adapter")
    head = await hub.height(Finality.latest())
    header = await hub.header(head)
    validators = await hub.validators(head)
    return Anchor(int(head), hub.block_hash(header), header.timestamp, tuple(sorted(validators)))


def hub_inputs(
    hub: ChainEnd,
    publics: Sequence[ChainEnd],
    roles: Roles,
    private_terms_chain_ids: Sequence[int],
) -> dict[str, Any]:
    """What the plan is made of, besides the anchor: a journal is only continued with the
    same inputs."""
    ends = [hub, *publics]
    prefixes = ["c", *(public_prefix(i) for i in range(len(publics)))]
    return {
        "chains": {
            end.name: {
                "prefix": prefix,
                "chain_id": int(end.adapter.ref.chain_id),
                "deployer": to_checksum_address(end.signer.address),
            }
            for end, prefix in zip(ends, prefixes, strict=True)
        },
        "roles": roles.to_json(),
        "private_terms_chain_ids": sorted(int(i) for i in private_terms_chain_ids),
    }


def recorded_anchor(journal: DeployJournal, inputs: Mapping[str, Any]) -> Anchor | None:
    """The anchor of a started ``journal`` (None when it is new); ``DeploymentConflict`` when
    it was started with other ``inputs`` (``hub_inputs``)."""
    if not journal.started:
        return None
    recorded = {k: v for k, v in journal.data["inputs"].items() if k != "anchor"}
    if recorded != inputs:
        changed = sorted(k for k in inputs if recorded.get(k) != inputs[k])
        raise DeploymentConflict(
            f"the journal {journal.path} was made for another deployment ({', '.join(changed)} "
            "differ): finish it with the configuration it was started with, or move it "
            "away to start a new deployment"
        )
    return Anchor.from_json(journal.data["inputs"]["anchor"])


def hub_steps(
    hub: ChainEnd,
    publics: Sequence[ChainEnd],
    roles: Roles,
    anchor: Anchor,
    private_terms_chain_ids: Sequence[int] = (),
) -> list[list[Step]]:
    """The steps of the hub, then of each public chain (``hub_plan``)."""
    consortium, public = hub_plan(
        admin=hub.signer.address,
        attesters=roles.attesters,
        attester_threshold=roles.attester_threshold,
        consortium_chain_id=int(hub.adapter.ref.chain_id),
        public_chain_ids=[int(p.adapter.ref.chain_id) for p in publics],
        consortium_validators=anchor.validators,
        trusted_consortium_header=(anchor.height, anchor.hash, anchor.timestamp),
        governor=roles.governor,
        guardian=roles.guardian,
        timelock_delay_s=roles.timelock_delay_s,
        hold_delay_s=roles.hold_delay_s,
        private_terms_chain_ids=private_terms_chain_ids,
        arbiter=roles.arbiter,
        public_admins=[p.signer.address for p in publics],
    )
    return [consortium, *public]


async def deploy_hub_chains(
    hub: ChainEnd,
    publics: Sequence[ChainEnd],
    roles: Roles,
    journal: DeployJournal,
    *,
    private_terms_chain_ids: Sequence[int] = (),
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    progress: Progress | None = None,
) -> HubResult:
    """Deploy and wire the hub's contracts and each public chain's, continuing ``journal``:
    the one deployment path (``xgate deploy`` with a file journal, ``xgate devnet up`` with one
    in memory). The anchor is the hub's latest header when the journal is new, the journal's
    otherwise; a journal made with other inputs is refused."""
    inputs = hub_inputs(hub, publics, roles, private_terms_chain_ids)
    anchor = recorded_anchor(journal, inputs)
    if anchor is None:
        anchor = await current_anchor(hub.adapter)
        journal.data["inputs"] = inputs | {"anchor": anchor.to_json()}
        journal.save()
    steps = hub_steps(hub, publics, roles, anchor, private_terms_chain_ids)
    runs = [
        ChainRun(end.name, end.adapter, end.signer, chain_steps)
        for end, chain_steps in zip([hub, *publics], steps, strict=True)
    ]
    deployment = Deployment(runs, journal, max_in_flight=max_in_flight, progress=progress)
    contracts = await deployment.run()
    prefixes = {name: item["prefix"] for name, item in inputs["chains"].items()}
    return HubResult(contracts, anchor, deployment.sent, prefixes)
