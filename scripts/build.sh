#!/usr/bin/env bash
# Configures and builds OAG (and its unit tests) into build/ (or $OAG_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${OAG_BUILD_DIR:-build}"
# ccache keys on paths relative to the checkout, so clones share the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(pwd)}"
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE="${OAG_BUILD_TYPE:-RelWithDebInfo}" \
    ${OAG_SANITIZE:+-DOAG_SANITIZE=$OAG_SANITIZE} ${OAG_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "${OAG_JOBS:-$(nproc)}" ${OAG_TARGET:+--target $OAG_TARGET}
