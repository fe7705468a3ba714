// Reproducible contract build: solc-js (pinned in package.json) + OpenZeppelin from node_modules.
//   node contracts/build.mjs          compile contracts/src/**/*.sol into contracts/artifacts/
//   node contracts/build.mjs --check  compile in memory and fail if the committed artifacts differ
// Settings are fixed here (not taken from the environment) so every machine writes the same bytes.
import { createRequire } from "node:module";
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, rmSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "contracts", "src");
const OUT = join(ROOT, "contracts", "artifacts");
const NODE_MODULES = join(ROOT, "node_modules");

export const SETTINGS = {
  // Shanghai runs on Besu QBFT (its shipped genesis files) and on every public EVM chain.
  // OpenZeppelin is pinned to 5.3.0: from 5.4 its Strings/SignatureChecker pull in utils/Bytes.sol,
  // which uses mcopy (Cancun) and does not compile for Shanghai.
  evmVersion: "shanghai",
  optimizer: { enabled: true, runs: 200 },
  // No metadata hash: bytecode then depends only on sources and settings, never on paths.
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"] } },
};

function solFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return solFiles(path);
    return name.endsWith(".sol") ? [path] : [];
  });
}

function findImport(path) {
  for (const base of [ROOT, NODE_MODULES]) {
    const full = join(base, path);
    if (existsSync(full)) return { contents: readFileSync(full, "utf8") };
  }
  return { error: `import not found: ${path} (run 'make' to install npm packages)` };
}

function compile() {
  const sources = {};
  for (const file of solFiles(SRC)) {
    sources[relative(ROOT, file)] = { content: readFileSync(file, "utf8") };
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage + "\n");
  if (errors.length) throw new Error(`solc reported ${errors.length} error(s)`);
  const artifacts = {};
  for (const [source, contracts] of Object.entries(output.contracts || {})) {
    if (!source.startsWith("contracts/src/")) continue; // libraries from node_modules are inlined
    for (const [name, c] of Object.entries(contracts)) {
      if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
      if (artifacts[name]) throw new Error(`two contracts named ${name}; names must be unique`);
      artifacts[name] = {
        contractName: name,
        sourceName: source,
        compiler: { name: "solc-js", version: solc.version(), settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer } },
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
        methodIdentifiers: c.evm.methodIdentifiers,
      };
    }
  }
  return Object.fromEntries(Object.entries(artifacts).map(([n, a]) => [`${n}.json`, JSON.stringify(a, null, 2) + "\n"]));
}

const check = process.argv.includes("--check");
const built = compile();
const committed = existsSync(OUT) ? readdirSync(OUT).filter((f) => f.endsWith(".json")).sort() : [];
if (check) {
  const problems = [];
  for (const name of Object.keys(built).sort()) {
    const path = join(OUT, name);
    if (!existsSync(path)) problems.push(`missing ${name}`);
    else if (readFileSync(path, "utf8") !== built[name]) problems.push(`differs ${name}`);
  }
  for (const name of committed) if (!built[name]) problems.push(`stale ${name}`);
  if (problems.length) {
    process.stderr.write(`contract artifacts are out of date (${problems.join(", ")}): run 'make contracts' and commit contracts/artifacts/\n`);
    process.exit(1);
  }
  process.stdout.write(`contract artifacts up to date (${Object.keys(built).length} contracts, solc ${solc.version()})\n`);
} else {
  mkdirSync(OUT, { recursive: true });
  for (const name of committed) if (!built[name]) rmSync(join(OUT, name));
  for (const [name, text] of Object.entries(built)) writeFileSync(join(OUT, name), text);
  process.stdout.write(`wrote ${Object.keys(built).length} artifacts to ${relative(ROOT, OUT)}/ (solc ${solc.version()})\n`);
}
