#!/usr/bin/env bash
# Installs what is missing, builds, and starts `oag serve` with the default
# config: RocksDB under ./data, the built-in mock provider, a demo company
# whose API key is printed, listening on 127.0.0.1:8080.
# Extra arguments go to `oag serve` (e.g. --listen 127.0.0.1:9090).
set -euo pipefail
cd "$(dirname "$0")/.."
OAG_SKIP_NPM=1 scripts/install-deps.sh
OAG_BUILD_DIR="${OAG_BUILD_DIR:-build}" OAG_TARGET=oag scripts/build.sh
exec "${OAG_BUILD_DIR:-build}/bin/oag" serve --config config/oag.json --data-dir ./data "$@"
