"""Rewrite tests/vectors/bridge_messages.json: ``python -m tests.vectors.make_bridge_vectors``.

The message fields are fixed below; each id is computed by plain 32-byte word concatenation
(independent of eth-abi and of gateway.domain.messages), so the vectors check the Python
codec and ``BridgeEndpoint.messageId`` against the written rule, not against themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

PATH = Path(__file__).parent / "bridge_messages.json"
MAX256 = 2**256 - 1


def _word(value: int | str) -> bytes:
    if isinstance(value, str):  # 0x-hex address
        return bytes.fromhex(value[2:]).rjust(32, b"\0")
    return value.to_bytes(32, "big")


def message_id(v: dict[str, Any]) -> str:
    words = [
        _word(v["src_chain_id"]),
        _word(v["src_endpoint"]),
        _word(v["nonce"]),
        _word(v["dst_chain_id"]),
        _word(v["dst_endpoint"]),
        _word(v["sender"]),
        _word(v["receiver"]),
        keccak(bytes.fromhex(v["payload"][2:])),
    ]
    return "0x" + keccak(b"".join(words)).hex()


def _case(name: str, src: int, src_ep: str, nonce: int, dst: int, dst_ep: str, sender: str,
          receiver: str, payload: bytes) -> dict[str, Any]:  # fmt: skip
    v: dict[str, Any] = {
        "name": name,
        "src_chain_id": src,
        "src_endpoint": src_ep,
        "nonce": nonce,
        "dst_chain_id": dst,
        "dst_endpoint": dst_ep,
        "sender": sender,
        "receiver": receiver,
        "payload": "0x" + payload.hex(),
    }
    v["id"] = message_id(v)
    return v


def build() -> dict[str, Any]:
    old = {v["name"]: v for v in json.loads(PATH.read_text())["vectors"]}
    dst_endpoints = {
        "simple transfer payload": "0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9",
        "empty payload": "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0",
        "max nonce and max chain ids": "0xffffffffffffffffffffffffffffffffffffffff",
        "zero everything": "0x0000000000000000000000000000000000000000",
        "large payload 4 KiB": "0xdc64a140aa3e981100a9beca4e685f962f0cf6c9",
        "payload of 31 bytes (not word aligned)": "0x5fc8d32690cc91d4c39d9d3abcbd16989f875707",
    }
    vectors = [
        _case(
            name,
            v["src_chain_id"],
            v["src_endpoint"],
            v["nonce"],
            v["dst_chain_id"],
            dst_endpoints[name],
            v["sender"],
            v["receiver"],
            bytes.fromhex(v["payload"][2:]),
        )
        for name, v in ((n, old[n]) for n in dst_endpoints)
    ]
    # Same message, two destination endpoints on one chain: different ids (no replay).
    base = vectors[0]
    vectors.append(
        _case(
            "same message, another destination endpoint",
            base["src_chain_id"],
            base["src_endpoint"],
            base["nonce"],
            base["dst_chain_id"],
            "0x0165878a594ca255338adfa4d48449f69242eb8f",
            base["sender"],
            base["receiver"],
            bytes.fromhex(base["payload"][2:]),
        )
    )
    return {
        "description": (
            "Bridge message ids: keccak256(abi.encode(uint256 srcChainId, address srcEndpoint, "
            "uint64 nonce, uint256 dstChainId, address dstEndpoint, address sender, address "
            "receiver, bytes32 keccak256(payload))). Ids computed by plain 32-byte word "
            "concatenation (independent of eth-abi) by tests/vectors/make_bridge_vectors.py; "
            "checked by tests/unit/test_messages.py and by BridgeEndpoint.messageId in "
            "tests/contracts/test_bridge_endpoint.py. Integers are JSON numbers (arbitrary "
            "precision), bytes 0x-hex."
        ),
        "vectors": vectors,
    }


if __name__ == "__main__":
    data = build()
    PATH.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {len(data['vectors'])} vectors to {PATH}")
