#!/usr/bin/env bash
# Rebuilds contracts/TestUSD.json (ABI + bytecode) from contracts/TestUSD.sol with the
# npm solc pinned in package.json. Run from anywhere: `contracts/build.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
node_modules/.bin/solcjs --bin --abi --optimize --optimize-runs 200 -o "$out" contracts/TestUSD.sol
node -e '
const fs = require("fs");
const [dir, version] = process.argv.slice(1);
const base = dir + "/contracts_TestUSD_sol_TestUSD";
const artifact = {
  contractName: "TestUSD",
  compiler: "solc " + version + " (solcjs --optimize --optimize-runs 200)",
  abi: JSON.parse(fs.readFileSync(base + ".abi", "utf8")),
  bytecode: "0x" + fs.readFileSync(base + ".bin", "utf8").trim(),
};
fs.writeFileSync("contracts/TestUSD.json", JSON.stringify(artifact, null, 2) + "\n");
' "$out" "$(node_modules/.bin/solcjs --version)"
echo "wrote contracts/TestUSD.json"
