#!/usr/bin/env bash
# Rebuild DevToken.json from DevToken.sol with the pinned solc-js (run from anywhere).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python3 - "$here" "$root" <<'PY'
import json, subprocess, sys
here, root = sys.argv[1], sys.argv[2]
request = {
    "language": "Solidity",
    "sources": {"DevToken.sol": {"content": open(f"{here}/DevToken.sol").read()}},
    "settings": {
        "evmVersion": "london",
        "optimizer": {"enabled": True, "runs": 200},
        "outputSelection": {"*": {"DevToken": ["abi", "evm.bytecode.object"]}},
    },
}
solc = f"{root}/node_modules/.bin/solcjs"
out = subprocess.run([solc, "--standard-json"], input=json.dumps(request),
                     capture_output=True, text=True, check=True).stdout
result = json.loads(out[out.index("{"):])
errors = [e for e in result.get("errors", []) if e["severity"] == "error"]
if errors:
    sys.exit("\n".join(e["formattedMessage"] for e in errors))
contract = result["contracts"]["DevToken.sol"]["DevToken"]
version = subprocess.run([solc, "--version"], capture_output=True, text=True).stdout.strip()
artifact = {
    "compiler": "solc-js " + version,
    "evmVersion": "london",
    "abi": contract["abi"],
    "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
}
with open(f"{here}/DevToken.json", "w") as f:
    json.dump(artifact, f, indent=1)
    f.write("\n")
PY
