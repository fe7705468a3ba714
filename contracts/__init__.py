"""Compiled contract artifacts (ABI + bytecode), built reproducibly by ``make contracts``.

The artifacts in ``contracts/artifacts/`` are committed; ``make test`` rebuilds them and fails
if they differ, so what is deployed is always what the sources say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"


class ArtifactNotFound(LookupError):
    """No artifact of that name: a typo, or the sources were not built (``make contracts``)."""


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes
    source: str

    def _entry(self, kind: str, name: str | None = None) -> dict[str, Any]:
        matches = [e for e in self.abi if e.get("type") == kind and e.get("name") == name]
        if kind == "constructor" and not matches:
            return {"type": "constructor", "inputs": []}
        if len(matches) != 1:
            raise ArtifactNotFound(
                f"{self.name} has {len(matches)} ABI entries {kind} {name!r}; expected one"
            )
        return matches[0]

    def deploy_data(self, *args: Any) -> bytes:
        """Init code: bytecode followed by the ABI-encoded constructor arguments."""
        return self.bytecode + _encode_inputs(self._entry("constructor"), args)

    def call_data(self, function: str, *args: Any) -> bytes:
        """Calldata for ``function(args)`` (overloaded names are not supported)."""
        entry = self._entry("function", function)
        return function_abi_to_4byte_selector(entry) + _encode_inputs(entry, args)  # type: ignore[arg-type]

    def decode_result(self, function: str, data: bytes) -> tuple[Any, ...]:
        entry = self._entry("function", function)
        return tuple(decode([collapse_if_tuple(o) for o in entry["outputs"]], data))


def _encode_inputs(entry: dict[str, Any], args: tuple[Any, ...]) -> bytes:
    types = [collapse_if_tuple(i) for i in entry["inputs"]]
    if len(types) != len(args):
        raise TypeError(
            f"{entry.get('name', 'constructor')} takes {len(types)} arguments, got {len(args)}"
        )
    return encode(types, list(args))


@cache
def load_artifact(name: str) -> Artifact:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))) or "none"
        raise ArtifactNotFound(
            f"no contract artifact {name!r} (known: {known}); run 'make contracts'"
        )
    data = json.loads(path.read_text())
    return Artifact(
        name=data["contractName"],
        abi=tuple(data["abi"]),
        bytecode=bytes.fromhex(data["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(data["deployedBytecode"][2:]),
        source=data["sourceName"],
    )


def artifact_names() -> list[str]:
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))
