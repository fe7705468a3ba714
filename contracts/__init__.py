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


@cache
def load_artifact(name: str) -> Artifact:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))) or "none"
        raise ArtifactNotFound(f"no contract artifact {name!r} (known: {known}); run 'make contracts'")
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
