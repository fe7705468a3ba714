"""Compiled contract artifacts (ABI + bytecode), built reproducibly by ``make contracts``.

The artifacts in ``contracts/artifacts/`` are committed; ``make test`` rebuilds them and fails
if they differ, so what is deployed is always what the sources say.

``decode_error`` names revert data by the custom errors every artifact declares, plus the
compiler's ``Error(string)`` and ``Panic(uint256)``: one table for the adapters, the relay
workers and the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import abi_to_signature, collapse_if_tuple, function_abi_to_4byte_selector

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
        """The ABI entry ``name``, or ``name(type,...)`` to pick one of overloaded functions."""
        if name is not None and "(" in name:
            matches = [e for e in self.abi if e.get("type") == kind and _signature(e) == name]
        else:
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
        """Calldata for ``function(args)``; name an overloaded function by its signature
        (``"safeTransferFrom(address,address,uint256,bytes)"``)."""
        entry = self._entry("function", function)
        return function_abi_to_4byte_selector(entry) + _encode_inputs(entry, args)  # type: ignore[arg-type]

    def decode_result(self, function: str, data: bytes) -> tuple[Any, ...]:
        entry = self._entry("function", function)
        return tuple(decode([collapse_if_tuple(o) for o in entry["outputs"]], data))


def _signature(entry: dict[str, Any]) -> str:
    types = ",".join(collapse_if_tuple(i) for i in entry.get("inputs", []))
    return f"{entry.get('name')}({types})"


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


# --- revert data ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecodedError:
    """Revert data decoded: ``UnknownRoute(4242)`` is name "UnknownRoute", args (4242,).

    ``artifact`` is the first artifact (by name) declaring the error; None for the compiler's
    ``Error(string)`` and ``Panic(uint256)``, which every contract may raise.
    """

    name: str
    signature: str
    args: tuple[Any, ...]
    artifact: str | None


@dataclass(frozen=True, slots=True)
class _ErrorAbi:
    name: str
    signature: str
    types: tuple[str, ...]
    artifact: str | None


_BUILTIN_ERRORS = (
    _ErrorAbi("Error", "Error(string)", ("string",), None),
    _ErrorAbi("Panic", "Panic(uint256)", ("uint256",), None),
)


@cache
def _error_table() -> dict[bytes, _ErrorAbi]:
    """4-byte selector -> error, over every committed artifact."""
    table = {function_abi_to_4byte_selector(_abi_of(e)): e for e in _BUILTIN_ERRORS}  # type: ignore[arg-type]
    for name in artifact_names():
        for item in load_artifact(name).abi:
            if item.get("type") != "error":
                continue
            selector = function_abi_to_4byte_selector(item)  # type: ignore[arg-type]
            # Shared libraries' errors appear in many artifacts with one signature; keep the
            # first. (A true selector clash would need two signatures hashing alike.)
            table.setdefault(
                selector,
                _ErrorAbi(
                    name=item["name"],
                    signature=abi_to_signature(item),  # type: ignore[arg-type]
                    types=tuple(collapse_if_tuple(i) for i in item["inputs"]),
                    artifact=name,
                ),
            )
    return table


def _abi_of(error: _ErrorAbi) -> dict[str, Any]:
    return {
        "type": "error",
        "name": error.name,
        "inputs": [{"type": t, "name": ""} for t in error.types],
    }


def decode_error(data: bytes) -> DecodedError | None:
    """The error ``data`` (revert data: selector + ABI-encoded arguments) names, or None when no
    artifact declares its selector or its arguments do not decode as declared."""
    if len(data) < 4:
        return None
    known = _error_table().get(bytes(data[:4]))
    if known is None:
        return None
    try:
        args = tuple(decode(list(known.types), bytes(data[4:])))
    except (DecodingError, ValueError, OverflowError):
        return None  # malformed data from a foreign contract: the caller keeps the raw bytes
    return DecodedError(known.name, known.signature, args, known.artifact)
