"""Regenerate ``receipts_anvil_block.json``: one real anvil block with every transaction type.

    .venv/bin/python -m tests.vectors.make_anvil_vectors

Starts anvil (node_modules/.bin/anvil) on a free loopback port with mining paused, sends a
contract deployment (whose constructor logs), legacy transactions (EIP-155 and, when anvil
accepts it, an unprotected one), an EIP-2930 call with an access list, EIP-1559 calls that log
and store (one of them reverts), an EIP-7702 set-code transaction and ~125 plain transfers (so
trie keys reach RLP(128+) = 0x81..), mines them into one block, and records the block with
full transactions, every receipt and ``eth_getProof`` results at that block, all exactly as
anvil returned them. The offline tests recompute the block's roots from this JSON.
Keys are anvil's public dev mnemonic accounts: DEV-ONLY.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import rlp
from eth_account import Account
from eth_utils.address import to_checksum_address

from adapters.rlpcodec import keccak
from devnet.keys import dev_accounts

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
OUT = Path(__file__).with_name("receipts_anvil_block.json")
CHAIN_ID = 31337
TOPIC = bytes.fromhex("5a2b8f6b0f0f5c2b7e1d4c3a29180706f5e4d3c2b1a09f8e7d6c5b4a39281706")
FILLER_TRANSFERS = 125


def runtime_code() -> bytes:
    """Any call: revert if word0 == 0xdead, else sstore(0, word0), LOG2(word0; TOPIC, caller), LOG0()."""
    head = bytes.fromhex("6000358061dead1460")  # v, v==0xdead, PUSH1 <revert pc>
    body = bytes.fromhex("5780600055600052337f") + TOPIC + bytes.fromhex("60206000a2600080a000")
    revert_pc = len(head) + 1 + len(body)
    return head + bytes((revert_pc,)) + body + bytes.fromhex("5b600080fd")


def init_code() -> bytes:
    runtime = runtime_code()
    prefix_len = 15
    prefix = bytes.fromhex("600080a0") + bytes.fromhex(
        f"60{len(runtime):02x}8060{prefix_len:02x}6000396000f3"
    )
    assert len(prefix) == prefix_len
    return prefix + runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.next_id = 0

    def __call__(self, method: str, *params: Any) -> Any:
        self.next_id += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)}
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


def main() -> None:
    keys = [Account.from_key(k.private_key) for k in dev_accounts(6)]
    port = free_port()
    proc = subprocess.Popen(
        [
            *(str(ANVIL), "--port", str(port), "--host", "127.0.0.1"),
            *("--chain-id", str(CHAIN_ID), "--hardfork", "prague", "--no-mining", "--silent"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        rpc = Rpc(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                version = rpc("web3_clientVersion")
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("anvil did not start")
        capture(rpc, keys, version)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def capture(rpc: Rpc, keys: list[Any], version: str) -> None:
    nonces = {k.address: 0 for k in keys}
    hashes: list[str] = []
    fees = {"maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**9}

    def send(key: Any, tx: dict[str, Any]) -> None:
        tx = {"nonce": nonces[key.address], "chainId": CHAIN_ID, **tx}
        signed = key.sign_transaction(tx)
        hashes.append(rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
        nonces[key.address] += 1

    deployer, alice, bob, carol, delegator, filler = keys
    contract = to_checksum_address(
        keccak(rlp.encode([bytes.fromhex(deployer.address[2:]), 0]))[12:]
    )
    send(deployer, {"type": 2, "data": init_code(), "gas": 200_000, "value": 0, **fees})
    word = (0x1234567890ABCDEF).to_bytes(32, "big")
    send(alice, {"to": bob.address, "value": 10**15, "gas": 21_000, "gasPrice": 2 * 10**9})
    send(
        bob,
        {
            "type": 1,
            "to": contract,
            "data": word,
            "gas": 100_000,
            "gasPrice": 2 * 10**9,
            "value": 0,
            "accessList": [{"address": contract, "storageKeys": ["0x" + "00" * 32]}],
        },
    )
    send(deployer, {"type": 2, "to": contract, "data": word[:-1] + b"\x77", "gas": 100_000, **fees})
    dead = (0xDEAD).to_bytes(32, "big")
    send(deployer, {"type": 2, "to": contract, "data": dead, "gas": 100_000, **fees})  # reverts
    authorization = delegator.sign_authorization(
        {"chainId": CHAIN_ID, "address": contract, "nonce": 0}
    )
    send(
        carol,
        {
            "type": 4,
            "to": delegator.address,
            "data": word,
            "gas": 200_000,
            "value": 0,
            "authorizationList": [authorization],
            **fees,
        },
    )
    unprotected = alice.sign_transaction(
        {"nonce": nonces[alice.address], "to": bob.address, "value": 1, "gas": 21_000}
        | {"gasPrice": 2 * 10**9}
    )
    try:
        hashes.append(rpc("eth_sendRawTransaction", "0x" + unprotected.raw_transaction.hex()))
        nonces[alice.address] += 1
    except RuntimeError as exc:
        print(f"anvil refused an unprotected legacy transaction ({exc}); skipped")
    for i in range(FILLER_TRANSFERS):
        to = keys[i % 5].address
        send(filler, {"type": 2, "to": to, "value": 1 + i, "gas": 21_000, **fees})

    rpc("evm_mine")
    block = rpc("eth_getBlockByNumber", "latest", True)
    number = block["number"]
    assert len(block["transactions"]) == len(hashes), "not every transaction was mined"
    # Block order, not submission order: anvil orders the pool by fee.
    receipts = [rpc("eth_getTransactionReceipt", tx["hash"]) for tx in block["transactions"]]
    absent = "0x" + "ab" * 20
    slot0, slot5 = "0x" + "00" * 32, "0x" + "00" * 31 + "05"
    vectors = {
        "generator": "tests/vectors/make_anvil_vectors.py",
        "client": version,
        "chain_id": CHAIN_ID,
        "contract": contract,
        "topic": "0x" + TOPIC.hex(),
        "block": block,
        "receipts": receipts,
        "proofs": {
            "contract": rpc("eth_getProof", contract, [slot0, slot5], number),
            "deployer": rpc("eth_getProof", deployer.address, [], number),
            "delegator": rpc("eth_getProof", delegator.address, [slot0], number),
            "absent": rpc("eth_getProof", absent, [slot0], number),
        },
    }
    OUT.write_text(json.dumps(vectors, indent=1) + "\n")
    print(f"wrote {OUT} ({len(hashes)} transactions, block {int(number, 16)})")


if __name__ == "__main__":
    main()
