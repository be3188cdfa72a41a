#!/usr/bin/env bash
# Installs what OAG needs to build and test, when it is missing:
# Debian packages (apt-get, incl. chromium for the Cockpit's browser tests) and
# the npm packages of tests/ (npm ci, incl. playwright-core, which drives it).
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(build-essential cmake ninja-build pkg-config ccache
  libcaf-dev libboost-system-dev libboost-dev nlohmann-json3-dev librocksdb-dev
  libssl-dev libspdlog-dev catch2 libcli11-dev libre2-dev tzdata wrk nodejs npm curl ca-certificates openssl
  chromium) # chromium: the Cockpit's browser tests (tests/integration/cockpit.test.mjs)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # node/npm may come from elsewhere on the machine; don't fight that.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
  fi
  todo=(); for p in "${missing[@]}"; do [ -n "$p" ] && todo+=("$p"); done
  if [ "${#todo[@]}" -gt 0 ]; then
    echo "[install] apt-get install ${todo[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${todo[@]}"
  fi
fi

if [ "${OAG_SKIP_NPM:-0}" != "1" ] && [ -f tests/package.json ]; then
  if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules ]; then
    echo "[install] npm ci (tests/)"
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
