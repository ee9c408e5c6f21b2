#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests talk to (real peers, not mocks).
# Safe to re-run: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

# binary-to-check:debian-package
NEEDED=(
  "nats-server:nats-server"
  "snmpd:snmpd"
  "snmpget:snmp"
  "storescu:dcmtk"
  "prometheus:prometheus"
  "prometheus-snmp-exporter:prometheus-snmp-exporter"
  "mbpoll:mbpoll"
  "chromium:chromium"
  "psql:postgresql-client"
  "socat:socat"
  "Orthanc:orthanc"
)
# python modules used by protocol peers, checked with Debian's python3
PY_NEEDED=("pymodbus:python3-pymodbus" "hl7:python3-hl7" "serial:python3-serial" "serial_asyncio:python3-serial-asyncio")
# files
FILE_NEEDED=("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:fonts-noto-cjk")

missing=()
for pair in "${NEEDED[@]}"; do
  bin=${pair%%:*}; pkg=${pair##*:}
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/bin/$bin" ]; then missing+=("$pkg"); fi
done
for pair in "${PY_NEEDED[@]}"; do
  mod=${pair%%:*}; pkg=${pair##*:}
  /usr/bin/python3 -c "import $mod" >/dev/null 2>&1 || missing+=("$pkg")
done
for pair in "${FILE_NEEDED[@]}"; do
  f=${pair%%:*}; pkg=${pair##*:}
  [ -e "$f" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "[system] all system packages present"
  exit 0
fi

echo "[system] installing missing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else
    echo "[system] ERROR: these packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "[system] run as root, or: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts some daemons on install; our tests and demo spawn their own on loopback ports.
for svc in snmpd prometheus prometheus-snmp-exporter orthanc; do
  (command -v service >/dev/null && $SUDO service "$svc" stop >/dev/null 2>&1) || true
done
echo "[system] installed: ${missing[*]}"
