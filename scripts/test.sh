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
# still load @tapjs/typescript (ts-node, several CPU-seconds per file) and @tapjs/mock's import
# hook (~1 CPU-s per file). Rebuild first.
if grep -qE "tapjs/(typescript|mock)" node_modules/@tapjs/test/test-built/dist/esm/index.js 2>/dev/null; then
  echo "[test] building tap with the plugins in .taprc (first run after install)"
  npx tap build >/dev/null || { echo "[test] tap build failed"; echo "# { total: 1, pass: 0, fail: 1 }"; exit 1; }
fi
# tap runs the files in path order whatever order they are given in (@tapjs/run's list() sorts
# them), three at a time (.taprc). Measured with scripts/test-accounting.mjs on a clean clone
# (2026-12-02): three files run at once to the end; the run ends with ~20 s of one file alone.
mapfile -t files < <(find contracts device-drivers edge-agent central network-monitor dashboards provisioning test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
echo "[test] ${#files[@]} test files"
exec npx tap --reporter=tap "${files[@]}" "$@"
