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
  "openssl:openssl"
)
# python modules used by protocol peers, checked with Debian's python3
PY_NEEDED=("pymodbus:python3-pymodbus" "hl7:python3-hl7" "serial:python3-serial" "serial_asyncio:python3-serial-asyncio")
# files
FILE_NEEDED=("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:fonts-noto-cjk" "/etc/orthanc/dicomweb.json:orthanc-dicomweb")

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

ensure_postgres() {
  # The PostgreSQL warehouse tests need a server on 127.0.0.1:5432 (trust auth for local tests,
  # as on the CI machines). Start an existing cluster; install and set one up if there is none.
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "[system] WARNING: PostgreSQL is not answering on 127.0.0.1:5432 and starting it needs root; the PostgreSQL tests will fail" >&2
    return 0
  fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "[system] installing PostgreSQL (local test server, trust auth on 127.0.0.1 only)"
    apt-get install -y -q --no-install-recommends postgresql >/dev/null
    v=$(ls /etc/postgresql | sort -V | tail -1)
    sed -i 's/^host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\S\+/host all all 127.0.0.1\/32 trust/' "/etc/postgresql/$v/main/pg_hba.conf"
  fi
  v=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || pg_ctlcluster "$v" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && { echo "[system] PostgreSQL $v running"; return 0; }; sleep 1; done
  echo "[system] WARNING: PostgreSQL did not start; the PostgreSQL tests will fail" >&2
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "[system] all system packages present"
  ensure_postgres
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
ensure_postgres
