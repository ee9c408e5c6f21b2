#!/usr/bin/env bash
# `npm run demo`: the whole system on embedded defaults. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/ensure-system.sh; then
  echo "[demo] cannot continue without the system packages above (nats-server is the minimum)." >&2
  exit 1
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
exec node --import tsx scripts/demo.ts "$@"
