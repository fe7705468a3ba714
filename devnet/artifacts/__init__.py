"""Compiled test contracts shipped with the devnet (DEV ONLY): ``dev_token()`` is a minimal
ERC-20 (DevToken.sol, rebuilt by build.sh)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent


@functools.cache
def dev_token() -> dict[str, Any]:
    """{"abi": [...], "bytecode": "0x..."} of DevToken (constructor(uint256 supply))."""
    data: dict[str, Any] = json.loads((_HERE / "DevToken.json").read_text())
    return data
