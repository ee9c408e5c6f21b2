#!/usr/bin/env bash
# The README's test command: type-check, then every *.test.ts with tap against real servers.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh || exit 1
[ -d node_modules ] || npm ci --no-audit --no-fund || exit 1
echo "[test] type-checking (tsc --noEmit)"
if ! npx tsc --noEmit; then
  echo "[test] type errors: fix them before the tests run"
  echo "# { total: 1, pass: 0, fail: 1 }"
  exit 1
fi
# tap rebuilds itself when .taprc's plugins differ from its build, but only after its runner
# has chosen the test processes' loaders: on the first run after `npm ci` every test file would
# still load @tapjs/typescript (ts-node, several CPU-seconds per file). Rebuild first.
if grep -q "tapjs/typescript" node_modules/@tapjs/test/test-built/dist/esm/index.js 2>/dev/null; then
  echo "[test] building tap with the plugins in .taprc (first run after install)"
  npx tap build >/dev/null || { echo "[test] tap build failed"; echo "# { total: 1, pass: 0, fail: 1 }"; exit 1; }
fi
mapfile -t found < <(find contracts device-drivers edge-agent central network-monitor dashboards provisioning test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
# Longest first (scripts/slow-tests.txt), then the rest: tap starts files in the order given, and
# three slots on two cores finish together only if the long files do not start last.
declare -A seen=()
files=()
while read -r f; do
  [[ -z "$f" || "$f" == \#* || ! -f "$f" ]] && continue
  files+=("$f"); seen["$f"]=1
done < scripts/slow-tests.txt
for f in "${found[@]}"; do [[ -n "${seen[$f]:-}" ]] || files+=("$f"); done
echo "[test] ${#files[@]} test files"
# tap loads its process-info tracker (@tapjs/processinfo) into every test process and every node
# child they spawn; it records each loaded source file (line lengths, source maps) for coverage
# reports. Coverage is off (.taprc) and nothing here reads that record: exclude every file from it
# (~0.5 CPU-s less per process, measured on a 2-core machine).
export _TAPJS_PROCESSINFO_EXCLUDE_="${_TAPJS_PROCESSINFO_EXCLUDE_:-/./}"
exec npx tap --reporter=tap "${files[@]}" "$@"
