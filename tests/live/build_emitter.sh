#!/usr/bin/env bash
# Rebuild Emitter.bin.json from Emitter.sol with the pinned solc-js (run from anywhere).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python3 - "$here" "$root" <<'PY'
import json, subprocess, sys
here, root = sys.argv[1], sys.argv[2]
source = open(f"{here}/Emitter.sol").read()
request = {
    "language": "Solidity",
    "sources": {"Emitter.sol": {"content": source}},
    "settings": {
        "evmVersion": "london",
        "optimizer": {"enabled": True, "runs": 200},
        "outputSelection": {"*": {"Emitter": ["abi", "evm.bytecode.object"]}},
    },
}
out = subprocess.run(
    [f"{root}/node_modules/.bin/solcjs", "--standard-json"],
    input=json.dumps(request), capture_output=True, text=True, check=True,
).stdout
result = json.loads(out[out.index("{"):])
errors = [e for e in result.get("errors", []) if e["severity"] == "error"]
if errors:
    sys.exit("\n".join(e["formattedMessage"] for e in errors))
contract = result["contracts"]["Emitter.sol"]["Emitter"]
artifact = {
    "compiler": "solc-js " + subprocess.run(
        [f"{root}/node_modules/.bin/solcjs", "--version"], capture_output=True, text=True
    ).stdout.strip(),
    "evmVersion": "london",
    "abi": contract["abi"],
    "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
}
with open(f"{here}/Emitter.bin.json", "w") as f:
    json.dump(artifact, f, indent=1)
    f.write("\n")
PY
